"""The verdict file: keys, atomic sorted writes, corrupt lines, xdist merging, unused entries."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.judge import (
    WORKEROUTPUT_KEY,
    VerdictCache,
    VerdictCacheError,
    VerdictCacheWarning,
    VerdictEntry,
    verdict_key,
)
from pytest_flywheel.judge.cache import verdict_keys


class FakeIdentity:
    def __init__(self, **overrides: Any) -> None:
        self.backend: str = overrides.get("backend", "anthropic")
        self.model: str = overrides.get("model", "claude-sonnet-5-5")
        self.prompt_version: str = overrides.get("prompt_version", "flywheel-judge/1")
        self.settings: dict[str, Any] = overrides.get("settings", {"effort": None})


BASE: dict[str, Any] = {
    "assertion": "The reply must apologise.",
    "input": {"question": "Where is my order?", "user": {"id": 7, "tier": "gold"}},
    "output": "Désolé — it is late.",
    "trajectory": [{"type": "tool", "name": "lookup", "arguments": {"id": 7}, "result": "late"}],
}


def key_of(identity: FakeIdentity | None = None, **changes: Any) -> str:
    parts = {**BASE, **changes}
    return verdict_key(identity or FakeIdentity(), parts["assertion"], parts["input"], parts["output"],
                       parts["trajectory"])


def entry(key: str, *, passed: bool = True, case: str | None = "suite.yaml::c1", reason: str = "fine") -> VerdictEntry:
    return VerdictEntry(key=key, assertion="The reply must apologise.", passed=passed, reason=reason,
                        confidence=0.9, backend="anthropic", model="claude-sonnet-5-5-loopback",
                        prompt_version="flywheel-judge/1", judged_at="2026-11-22T03:00:00Z", case=case)


def k(n: int) -> str:
    return f"sha256:{n:064x}"


# -- keys -----------------------------------------------------------------------------------------


def test_key_is_sha256_of_the_canonical_json_of_every_component() -> None:
    identity = FakeIdentity()
    whole = {"backend": identity.backend, "model": identity.model, "prompt_version": identity.prompt_version,
             "settings": identity.settings, **BASE}
    text = json.dumps(whole, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert key_of() == "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert verdict_keys(identity, ["a", BASE["assertion"]], BASE["input"], BASE["output"], BASE["trajectory"])[1] == key_of()


def test_key_is_sha256_of_canonical_json_and_ignores_dict_order() -> None:
    reordered = {"user": {"tier": "gold", "id": 7}, "question": "Where is my order?"}
    assert key_of().startswith("sha256:") and len(key_of()) == len("sha256:") + 64
    assert key_of() == key_of(input=reordered)


@pytest.mark.parametrize(
    "change",
    [
        {"identity": FakeIdentity(backend="other")},
        {"identity": FakeIdentity(model="claude-haiku-5-5")},
        {"identity": FakeIdentity(prompt_version="flywheel-judge/2")},
        {"identity": FakeIdentity(settings={"effort": "high"})},
        {"assertion": "The reply must apologise!"},
        {"input": {"question": "Where is my order?", "user": {"id": 8, "tier": "gold"}}},
        {"output": "Désolé — it is late!"},
        {"trajectory": [{"type": "tool", "name": "lookup", "arguments": {"id": 7}, "result": "on time"}]},
        {"trajectory": []},
    ],
    ids=["backend", "model", "prompt", "settings", "assertion", "input", "output", "tool-result", "no-tools"],
)
def test_key_changes_when_any_component_changes(change: dict[str, Any]) -> None:
    identity = change.pop("identity", None)
    assert key_of(identity, **change) != key_of()


# -- reading and writing ----------------------------------------------------------------------------


def test_written_file_is_sorted_one_object_a_line_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "flywheel" / "verdicts.jsonl"
    cache = VerdictCache.load(path)
    for n in (3, 1, 2):
        cache.put(k(n), entry(k(n), passed=n != 2))

    result = cache.write()

    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == [k(1), k(2), k(3)]
    assert list(json.loads(lines[0])) == ["key", "assertion", "passed", "confidence", "reason", "model",
                                           "backend", "prompt_version", "case", "judged_at"]
    assert result.written and result.entries == 3 and result.added == 3
    again = VerdictCache.load(path)
    assert again.get(k(2)) == entry(k(2), passed=False)
    assert len(again) == 3


def test_an_unchanged_cache_does_not_rewrite_the_file(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    cache = VerdictCache.load(path)
    cache.put(k(1), entry(k(1)))
    cache.write()
    before = path.stat()

    reloaded = VerdictCache.load(path)
    reloaded.mark_used(k(1))
    result = reloaded.write()

    assert not result.written
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns


def test_new_entries_are_written_in_order_among_the_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    first = VerdictCache.load(path)
    first.put(k(1), entry(k(1)))
    first.put(k(5), entry(k(5)))
    first.write()

    second = VerdictCache.load(path)
    second.put(k(3), entry(k(3)))
    second.write()

    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == [k(1), k(3), k(5)]


def test_no_file_is_created_for_an_empty_session(tmp_path: Path) -> None:
    path = tmp_path / "flywheel" / "verdicts.jsonl"
    assert not VerdictCache.load(path).write().written
    assert not path.exists()


def test_a_failed_write_leaves_the_old_file_intact_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "verdicts.jsonl"
    cache = VerdictCache.load(path)
    cache.put(k(2), entry(k(2)))
    cache.write()

    cache.put(k(1), entry(k(1)))  # appended at once, after k(2): the file must be sorted again
    old = path.read_bytes()
    assert old.count(b"\n") == 2

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(VerdictCacheError, match="the old file is intact"):
        cache.write()

    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdicts.jsonl"]


# -- corrupt lines ----------------------------------------------------------------------------------


def test_a_corrupt_line_is_a_warning_naming_the_line_and_the_rest_still_serves(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    good = [json.dumps(entry(k(n)).to_json()) for n in (1, 2)]
    path.write_text(f"{good[0]}\n<<<<<<< HEAD\n{good[1]}\n{{\"key\": 3}}\n", encoding="utf-8")

    with pytest.warns(VerdictCacheWarning) as caught:
        cache = VerdictCache.load(path)

    messages = [str(w.message) for w in caught]
    assert any(message.startswith(f"{path}:2: not a verdict entry") for message in messages)
    assert any(message.startswith(f"{path}:4: not a verdict entry (key must be") for message in messages)
    assert cache.get(k(1)) is not None and cache.get(k(2)) is not None
    assert len(cache.problems) == 2 and cache.corrupt_lines == 2


def test_corrupt_lines_are_kept_on_write_and_dropped_by_prune(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    path.write_text("not json at all\n" + json.dumps(entry(k(2)).to_json()) + "\n", encoding="utf-8")
    cache = VerdictCache.load(path, warn=False)
    cache.put(k(1), entry(k(1)))

    kept = cache.write()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines[:2]] == [k(1), k(2)]
    assert lines[2] == "not json at all" and kept.corrupt_kept == 1

    pruned = VerdictCache.load(path, warn=False)
    pruned.mark_used(k(1))
    pruned.mark_used(k(2))
    result = pruned.write(prune=True)
    assert "not json at all" not in path.read_text() and result.corrupt_dropped == 1


def test_a_duplicated_key_keeps_the_later_line_and_is_written_once(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    lines = [json.dumps(entry(k(1), passed=True).to_json()), json.dumps(entry(k(1), passed=False).to_json())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a re-judged verdict appended after the old one is no problem
        cache = VerdictCache.load(path)

    entry_1 = cache.get(k(1))
    assert entry_1 is not None and entry_1.passed is False
    assert cache.needs_sorting
    cache.write()
    assert len(path.read_text().splitlines()) == 1 and not VerdictCache.load(path).needs_sorting


# -- used and unused ---------------------------------------------------------------------------------


def test_unused_counts_only_entries_of_cases_that_ran(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    seed = VerdictCache.load(path)
    seed.put(k(1), entry(k(1), case="s.yaml::a"))  # used again below
    seed.put(k(2), entry(k(2), case="s.yaml::a"))  # stale: case a ran, nobody asked for it
    seed.put(k(3), entry(k(3), case="s.yaml::b"))  # case b did not run (deselected)
    seed.put(k(4), entry(k(4), case=None))  # no case recorded
    seed.write()

    cache = VerdictCache.load(path)
    cache.mark_used(k(1))

    assert cache.unused_keys(ran_cases={"s.yaml::a"}) == [k(2)]
    assert cache.unused_keys() == [k(2), k(3), k(4)]
    # a case that no longer exists counts too, whether it ran or not
    assert cache.unused_keys(ran_cases={"s.yaml::a"}, gone=lambda case: case == "s.yaml::b") == [k(2), k(3)]
    result = cache.write(prune=cache.unused_keys(ran_cases={"s.yaml::a"}))
    assert result.pruned == (k(2),)
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == [k(1), k(3), k(4)]


def test_new_entries_count_as_used() -> None:
    cache = VerdictCache()
    cache.put(k(1), entry(k(1)))
    assert cache.unused_keys() == [] and k(1) in cache.used_keys


def test_redaction_applies_to_new_entries(tmp_path: Path) -> None:
    cache = VerdictCache.load(tmp_path / "v.jsonl", redact=lambda text: text.replace("sk-secret", "[REDACTED]"))
    cache.put(k(1), entry(k(1), reason="The output leaks sk-secret."))
    cache.write()
    assert "sk-secret" not in (tmp_path / "v.jsonl").read_text()
    stored = cache.get(k(1))
    assert stored is not None and stored.reason == "The output leaks [REDACTED]."


# -- xdist ------------------------------------------------------------------------------------------


def test_workers_verdicts_merge_without_loss_or_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    seed = VerdictCache.load(path)
    seed.put(k(1), entry(k(1)))
    seed.write()

    workers = [VerdictCache.load(path) for _ in range(2)]
    workers[0].mark_used(k(1))
    for n in (10, 11, 12):
        workers[0].put(k(n), entry(k(n)))
    for n in (12, 13):  # 12 was judged on both workers (the same case run twice)
        workers[1].put(k(n), entry(k(n)))
    # workeroutput travels through execnet as plain JSON-like data
    outputs = [json.loads(json.dumps({WORKEROUTPUT_KEY: worker.export_session()})) for worker in workers]

    controller = VerdictCache.load(path)
    added = [controller.merge_session(output[WORKEROUTPUT_KEY]) for output in outputs]
    controller.write()

    keys = [json.loads(line)["key"] for line in path.read_text().splitlines()]
    assert keys == [k(1), k(10), k(11), k(12), k(13)]
    assert added == [3, 1]
    assert controller.unused_keys() == []  # k(1) was used on a worker


def test_merge_accepts_entries_and_dicts() -> None:
    cache = VerdictCache()
    assert cache.merge([entry(k(1)), entry(k(2)).to_json()]) == 2
    assert cache.merge([entry(k(2))]) == 0
    assert [e.key for e in cache.new_entries] == [k(1), k(2)]


def test_merge_rejects_a_malformed_entry() -> None:
    with pytest.raises(ValueError, match="passed must be true or false"):
        VerdictCache().merge([{**entry(k(1)).to_json(), "passed": "yes"}])


def test_write_without_a_path_is_an_error() -> None:
    with pytest.raises(VerdictCacheError, match="needs a path"):
        VerdictCache().write()


WRITER = """
import sys, itertools
from pathlib import Path
from pytest_flywheel.judge.cache import VerdictCache, VerdictEntry

path = Path(sys.argv[1])
for round in itertools.count():
    cache = VerdictCache.load(path)
    entries = {}
    for n in range(3000):
        key = f"sha256:{n:064x}"
        entries[key] = VerdictEntry(key=key, assertion="a" * 200, passed=round % 2 == 0, reason=f"round {round}",
                                    confidence=1.0, backend="b", model="m", prompt_version="p", judged_at="t")
    cache.put_many(entries)  # appended, then merged and rewritten
    cache.write()
    print(round, flush=True)
"""


def test_a_writer_killed_mid_write_leaves_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    seed = VerdictCache.load(path)
    for n in range(3000):
        seed.put(k(n), entry(k(n)))
    seed.write()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        for _ in range(3):  # let it rewrite the file a few times, then kill it in the middle of the next
            assert writer.stdout.readline()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn line would be a corrupt-line warning
        cache = VerdictCache.load(path)
    assert len(cache) == 3000 and cache.corrupt_lines == 0
    # killed after an append and before the rewrite, the later round's verdicts are all there
    assert len({entry.reason for entry in (cache.get(k(n)) for n in range(3000)) if entry}) == 1


def test_temp_files_left_by_a_killed_writer_are_removed_once_stale(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    stale = tmp_path / ".verdicts.jsonl.abc123.tmp"
    fresh = tmp_path / ".verdicts.jsonl.def456.tmp"
    for leftover in (stale, fresh):
        leftover.write_text("half a file")
    os.utime(stale, (1_000_000, 1_000_000))

    cache = VerdictCache.load(path)
    cache.put(k(2), entry(k(2)))
    cache.put(k(1), entry(k(1)))  # appended out of order: the end-of-session write sorts the file
    cache.write()

    assert not stale.exists() and fresh.exists()
