"""A small project for the trust tests: a suite file, a verdict file with real verdict keys, and run
records in a real SQLite store whose reports name those keys (as the plugin's reports do)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flywheel.judge.cache import VerdictCache, VerdictEntry, verdict_key
from pytest_flywheel.runs import run_from_report, save_run
from pytest_flywheel.store import Store

SUITE = """\
version: 1
name: qa
target: agent:answer
cases:
  - id: refund
    input: {question: "Can I get a refund?"}
    assertions:
      - The reply must not promise a refund.
      - contains: policy
      - The reply must cite the refund article.
  - id: parcel
    input: {question: "Where is my parcel?"}
    assertions:
      - The reply must ask for the order number.
"""

CASES: dict[str, tuple[dict[str, Any], list[Any]]] = {
    "refund": (
        {"question": "Can I get a refund?"},
        ["The reply must not promise a refund.", {"contains": "policy"}, "The reply must cite the refund article."],
    ),
    "parcel": ({"question": "Where is my parcel?"}, ["The reply must ask for the order number."]),
}


@dataclass
class JudgeId:
    backend: str = "anthropic"
    model: str = "judge-a"
    prompt_version: str = "flywheel-judge/1"
    settings: dict[str, Any] = field(default_factory=dict)


def nodeid(case_id: str, suite: str = "qa") -> str:
    return f"flywheel/suites/{suite}.yaml::{case_id}"


def key_for(assertion: str, output: Any, *, case_id: str = "refund", judge: JudgeId | None = None) -> str:
    return verdict_key(judge or JudgeId(), assertion, CASES[case_id][0], output, [])


def entry(
    assertion: str, output: Any, passed: bool, *, case_id: str = "refund", model: str = "judge-a",
    reason: str = "because", suite: str = "qa",
) -> VerdictEntry:
    return VerdictEntry(
        key=key_for(assertion, output, case_id=case_id, judge=JudgeId(model=model)),
        assertion=assertion,
        passed=passed,
        reason=reason,
        confidence=0.8,
        backend="anthropic",
        model=model,
        prompt_version="flywheel-judge/1",
        judged_at="2026-11-22T03:18:02Z",
        case=nodeid(case_id, suite),
    )


def write_verdicts(path: Path, entries: list[VerdictEntry]) -> None:
    cache = VerdictCache.load(path)  # entries already in the file stay
    for item in entries:
        cache.put(item.key, item)
    cache.write()


class Project:
    """A project folder: pyproject.toml, flywheel/suites/qa.yaml, flywheel/verdicts.jsonl, a store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "pyproject.toml").write_text('[tool.flywheel]\nstore = ".flywheel/flywheel.db"\n')
        suites = root / "flywheel" / "suites"
        suites.mkdir(parents=True)
        (suites / "qa.yaml").write_text(SUITE)
        self.runs = 0

    @property
    def store(self) -> Path:
        return self.root / ".flywheel" / "flywheel.db"

    @property
    def verdicts(self) -> Path:
        return self.root / "flywheel" / "verdicts.jsonl"

    @property
    def labels(self) -> Path:
        return self.root / "flywheel" / "labels.jsonl"

    def record(
        self,
        outputs: dict[str, Any],
        verdicts: dict[tuple[str, int], bool],
        *,
        model: str = "judge-a",
        trajectories: dict[str, list[dict[str, Any]]] | None = None,
    ) -> str:
        """Save a run in which each case of ``outputs`` replied so, with the judge's ``verdicts`` per
        (case, assertion position); the report's assertions carry the verdict keys, as the plugin's do."""
        self.runs += 1
        cases = []
        for case_id, output in outputs.items():
            items = []
            for index, assertion in enumerate(CASES[case_id][1]):
                if isinstance(assertion, str):
                    passed = verdicts[(case_id, index)]
                    key = key_for(assertion, output, case_id=case_id, judge=JudgeId(model=model))
                    items.append({"assertion": assertion, "kind": "sentence", "passed": passed,
                                  "reason": "because", "cached": False, "confidence": 0.8, "key": key})
                else:
                    items.append({"assertion": f"contains: {assertion['contains']!r}", "kind": "check",
                                  "passed": True, "reason": "found", "key": None})
            failed = any(item["passed"] is False for item in items)
            cases.append({"nodeid": nodeid(case_id), "suite": "qa", "case_id": case_id,
                          "outcome": "failed" if failed else "passed", "output": output, "assertions": items})
            if trajectories and case_id in trajectories:
                cases[-1]["trajectory"] = trajectories[case_id]
        run = run_from_report({"started_at": 1000.0 + self.runs, "ended_at": 1001.0 + self.runs,
                               "suites": ["qa"], "cases": cases})
        with Store(self.store) as store:
            save_run(store, run)
        return run.id

    def label_lines(self) -> list[dict[str, Any]]:
        if not self.labels.exists():
            return []
        return [json.loads(line) for line in self.labels.read_text(encoding="utf-8").splitlines()]
