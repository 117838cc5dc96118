"""A suite split across CI jobs (``--flywheel-shard I/N``): every case runs in exactly one shard, and the
shards' verdict files merged with ``flywheel verdicts merge`` equal one unsharded run's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from tests.plugin.conftest import Project

CASES = 40


def forty() -> str:
    lines = ["version: 1\nname: big\ntarget: agent:answer\ncases:\n"]
    for number in range(CASES):
        lines.append(
            f"  - id: c{number}\n    input: {{question: 'topic {number}'}}\n"
            f"    assertions: [\"The reply must mention '{number}'\"]\n"
        )
    return "".join(lines)


def keys_and_verdicts(path: Path) -> dict[str, bool]:
    return {entry["key"]: entry["passed"] for entry in map(json.loads, path.read_text().splitlines())}


def test_four_shards_merged_give_the_unsharded_verdict_file(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write_suite("big", forty())
    project.verdicts.parent.mkdir(parents=True, exist_ok=True)
    pristine = tmp_path / "pristine"
    shutil.copytree(project.path, pristine)

    whole = project.pytester.runpytest("--flywheel-suite=big", "-p", "no:xdist")
    whole.assert_outcomes(passed=CASES)
    unsharded = keys_and_verdicts(project.verdicts)

    ran: list[str] = []
    shard_files = []
    for index in range(1, 5):
        job = tmp_path / f"job{index}"  # each CI job has its own checkout
        shutil.copytree(pristine, job)
        monkeypatch.chdir(job)
        result = project.pytester.runpytest_subprocess(
            "--flywheel-suite=big", f"--flywheel-shard={index}/4", "-p", "no:xdist", "-q", "-rA"
        )
        assert result.ret == 0, result.stdout.str()
        ran += [line.split()[1] for line in result.stdout.lines if line.startswith("PASSED ")]
        shard_files.append(job / "flywheel" / "verdicts.jsonl")
    assert sorted(ran) == sorted(f"flywheel/suites/big.yaml::c{n}" for n in range(CASES))  # each once
    assert all(0 < len(keys_and_verdicts(path)) < CASES for path in shard_files)

    merged = tmp_path / "merged"
    shutil.copytree(pristine, merged)
    monkeypatch.chdir(merged)
    assert main(["verdicts", "merge", *map(str, shard_files)]) == 0
    assert keys_and_verdicts(merged / "flywheel" / "verdicts.jsonl") == unsharded


def test_a_bad_shard_is_a_usage_error(project: Project) -> None:
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-shard=5/4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flywheel-shard = '5/4': expected I/N with 1 <= I <= N, such as 2/4"])
