"""The labels file: round trip, order, strictness, and writers in several processes at once."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_flywheel.config import load_settings
from pytest_flywheel.trust import Label, LabelFile, LabelFileError, labels_for, save_labels

from .builders import key_for


def _label(n: int, **fields: object) -> Label:
    values: dict[str, object] = {
        "key": key_for(f"assertion {n}", f"output {n}"),
        "passed": n % 2 == 0,
        "assertion": f"assertion {n}",
        "judge_passed": True,
        "judge_model": "judge-a",
        "suite": "qa",
        "case": "flywheel/suites/qa.yaml::refund",
        "note": "",
    }
    values.update(fields)
    return Label(**values)  # type: ignore[arg-type]


def test_labels_round_trip_sorted_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "flywheel" / "labels.jsonl"
    labels = [_label(n, note=f"note {n} ünïcode ✓") for n in range(5)]
    save_labels(path, reversed(labels))

    lines = path.read_text(encoding="utf-8").splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert keys == sorted(keys) and len(keys) == 5
    assert list(json.loads(lines[0])) == [
        "key", "passed", "judge_passed", "judge_model", "assertion", "suite", "case", "note", "labelled_at"
    ]
    loaded = LabelFile.load(path)
    for label in labels:
        found = loaded.get(label.key)
        assert found is not None
        assert (found.passed, found.note, found.judge_passed, found.suite) == (
            label.passed, label.note, label.judge_passed, label.suite
        )
        assert found.labelled_at.endswith("Z")  # stamped when written, ISO-8601 UTC
    # Writing what was read changes nothing, byte for byte.
    before = path.read_bytes()
    save_labels(path, list(loaded))
    assert path.read_bytes() == before


def test_a_second_label_on_a_key_replaces_the_first(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    save_labels(path, [_label(1, passed=True)])
    save_labels(path, [_label(1, passed=False, note="looked again")])
    loaded = LabelFile.load(path)
    assert len(loaded) == 1
    only = next(iter(loaded))
    assert (only.passed, only.note, only.agrees) == (False, "looked again", False)


def test_fields_of_a_newer_format_survive_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    data = _label(1).to_json() | {"labelled_at": "2026-01-01T00:00:00Z", "reviewer": "ana", "votes": [1, 0]}
    path.write_text(json.dumps(data) + "\n")
    save_labels(path, [_label(2)])
    kept = next(json.loads(line) for line in path.read_text().splitlines() if json.loads(line)["key"] == data["key"])
    assert kept["reviewer"] == "ana" and kept["votes"] == [1, 0]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("<<<<<<< HEAD", "not a label"),
        ('{"key": "sha256:abc", "passed": true, "assertion": "x"}', "verdict key"),
        ('{"key": "%s", "passed": "yes", "assertion": "x"}', "passed must be true or false"),
        ('{"key": "%s", "passed": true}', "assertion must be a string"),
        ('["a", "list"]', "expected a JSON object"),
        ("[" * 100_000, "not a label"),  # nested past what the JSON parser can hold
    ],
)
def test_a_line_that_is_not_a_label_is_an_error_naming_it_and_nothing_is_written(
    tmp_path: Path, line: str, says: str
) -> None:
    path = tmp_path / "labels.jsonl"
    good = json.dumps(_label(1).to_json())
    text = good + "\n" + (line % key_for("x", "y") if "%s" in line else line) + "\n"
    path.write_text(text)
    with pytest.raises(LabelFileError) as raised:
        LabelFile.load(path)
    assert f"{path}:2: " in str(raised.value) and says in str(raised.value)
    with pytest.raises(LabelFileError):
        save_labels(path, [_label(2)])
    assert path.read_text() == text  # nothing lost, nothing half-merged


def test_two_labels_on_one_key_are_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    first, second = _label(1, passed=True), _label(1, passed=False)
    path.write_text(json.dumps(first.to_json()) + "\n\n" + json.dumps(second.to_json()) + "\n")
    with pytest.raises(LabelFileError, match=r"labels.jsonl:3: a second label .* line 1"):
        LabelFile.load(path)


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LabelFileError, match="could not be read"):
        LabelFile.load(path)


def _write_many(path: str, start: int) -> None:
    for n in range(start, start + 10):
        save_labels(Path(path), [_label(n)])


def test_processes_labelling_at_once_lose_no_label(tmp_path: Path) -> None:
    path = tmp_path / "flywheel" / "labels.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), start)) for start in (0, 100, 200, 300)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(LabelFile.load(path)) == 40
    assert not list(path.parent.glob(".*.tmp"))


def test_labels_for_gives_the_labels_of_the_keys_asked_for(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    settings = load_settings(tmp_path, environ={})
    save_labels(settings.dir / "labels.jsonl", [_label(1), _label(2, passed=False, note="invents a fee")])
    unknown = key_for("never labelled", "output")
    found = labels_for([_label(2).key, unknown], settings=settings)
    assert list(found) == [_label(2).key]
    assert found[_label(2).key].passed is False and found[_label(2).key].note == "invents a fee"
    assert labels_for([unknown], settings=settings) == {}
