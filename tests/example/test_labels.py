"""The example's committed labels: a person's review of every verdict its stand-in judge gave."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_flywheel.judge.cache import VerdictCache
from pytest_flywheel.trust import LabelFile

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"


def test_every_committed_verdict_is_labelled_and_every_label_names_a_committed_verdict() -> None:
    verdicts = VerdictCache.load(EXAMPLE / "flywheel" / "verdicts.jsonl")
    labels = LabelFile.load(EXAMPLE / "flywheel" / "labels.jsonl")
    keys = set(verdicts.entries())
    assert {label.key for label in labels} == keys
    for label in labels:
        entry = verdicts.get(label.key)
        assert entry is not None
        # what the label recorded of the judge is what the verdict file says
        assert (label.judge_passed, label.judge_model, label.assertion) == (entry.passed, entry.model, entry.assertion)
        assert label.case == entry.case and label.labelled_at.endswith("Z")


def test_the_agreement_report_runs_on_the_committed_files(tmp_path: Path) -> None:
    project = tmp_path / "example_project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".flywheel", "__pycache__", ".pytest_cache"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli.main", "judge", "agreement", "--json"],
        cwd=project, env=dict(os.environ), text=True, capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    labels = list(LabelFile.load(EXAMPLE / "flywheel" / "labels.jsonl"))
    suite = next(item for item in data["suites"] if item["suite"] == "customer-support-qa")
    assert suite["labels"] == sum(1 for label in labels if label.suite == "customer-support-qa")
    assert data["overall"]["labels"] == len(labels)
    # Both kinds of verdict were reviewed: replies the judge passed and replies it failed.
    confusion = suite["confusion"]
    assert confusion["judge_pass"]["person_pass"] > 0 and confusion["judge_fail"]["person_fail"] > 0
