"""``flywheel verdicts merge``: a damaged or wrong artifact stops the merge before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from tests.trust.builders import entry, write_verdicts


def test_a_damaged_shard_file_merges_nothing_and_names_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    target = tmp_path / "flywheel" / "verdicts.jsonl"
    write_verdicts(target, [entry("The reply must not promise a refund.", "a", True)])
    before = target.read_bytes()
    good, damaged, empty = tmp_path / "good.jsonl", tmp_path / "damaged.jsonl", tmp_path / "empty.jsonl"
    write_verdicts(good, [entry("The reply must cite the refund article.", "b", False)])
    damaged.write_text(good.read_text() + "<html>502 Bad Gateway</html>\n")
    empty.write_text("")

    assert main(["verdicts", "merge", str(good), str(damaged)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"flywheel: error: {damaged} is not a clean verdict file, so nothing was merged: {damaged}:2: ")
    assert target.read_bytes() == before

    assert main(["verdicts", "merge", str(tmp_path)]) == 1
    assert "is not a verdict file but a folder" in capsys.readouterr().err

    assert main(["verdicts", "merge", str(good), str(empty)]) == 0  # a shard that judged nothing
    assert "1 verdicts added, 2 in all" in capsys.readouterr().out
