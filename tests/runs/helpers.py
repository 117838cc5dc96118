"""Build plugin-style JSON reports for the runs tests."""

from __future__ import annotations

from typing import Any


def case(case_id: str, outcome: str, *verdicts: tuple[str, bool | None], suite: str = "qa") -> dict[str, Any]:
    return {
        "nodeid": f"flywheel/suites/{suite}.yaml::{case_id}",
        "suite": suite,
        "case_id": case_id,
        "outcome": outcome,
        "duration_ms": 12.5,
        "output": f"reply for {case_id}",
        "trajectory": [
            {"type": "tool", "name": "lookup_order", "arguments": {"order_id": "A1"}, "result": None}
        ],
        "assertions": [
            {
                "assertion": text,
                "kind": "sentence",
                "passed": passed,
                "reason": f"because {text[:10]}",
                "cached": True,
                "confidence": 0.9,
            }
            for text, passed in verdicts
        ],
    }


def report(*cases: dict[str, Any], started_at: float, suites: tuple[str, ...] = ("qa",)) -> dict[str, Any]:
    return {
        "started_at": started_at,
        "ended_at": started_at + 3.0,
        "suites": list(suites),
        "cases": list(cases),
        "judge": {"calls": 2, "tokens": 900, "cost_usd": 0.0042},
    }
