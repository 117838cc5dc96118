"""The JSON report (``--flywheel-report PATH``); the same dict is handed to
``pytest_flywheel.runs.record_run(settings, report)`` once per session.

Format, version 1 (keys always present unless marked optional; times are Unix epoch seconds)::

    {
      "version": 1,
      "started_at": 1763772000.0,          # when the session's flywheel runtime started
      "ended_at": 1763772012.5,
      "duration_s": 12.5,
      "passed": false,                     # every test passed and every pass rate met the minimum
      "min_pass_rate": 0.95,               # null when --flywheel-min-pass-rate is not set
      "passed_min_pass_rate": true,        # every suite's pass rate >= min_pass_rate (true when unset)
      "suites": {                          # per suite name; judged hand-written tests under
        "customer-support-qa": {           # "(hand-written tests)"
          "cases": 10, "passed": 9, "failed": 1, "errors": 0, "skipped": 0,
          "pass_rate": 0.9,                # passed / (passed + failed + errors); null if none counted
          "passed_min_pass_rate": false
        }
      },
      "cases": [
        {
          "nodeid": "flywheel/suites/customer-support-qa.yaml::refund-1",
          "suite": "customer-support-qa",  # null for a hand-written test
          "case_id": "refund-1",           # null for a hand-written test
          "outcome": "passed",             # passed | failed | error | skipped
          "duration_ms": 812.4,            # setup + call + teardown, as pytest measured them
          "latency_ms": 640.2,             # the target's own call (null for hand-written tests)
          "tokens": 1234,                  # the agent's LLM tokens (null when unknown)
          "cost_usd": 0.0042,              # the agent's LLM cost (null when a price is unknown)
          "output": "...",                 # the target's return value, as JSON
          "message": null,                 # the error, or the exception the target raised
          "assertions": [
            {"assertion": "The reply offers a refund", "kind": "sentence", "passed": true,
             "reason": "...", "cached": true, "confidence": 0.97, "key": "sha256:...",
             "model": "claude-sonnet-5-5"},
            {"assertion": "contains: 'refund'", "kind": "check", "passed": true, "reason": "...",
             "cached": null, "confidence": null, "key": null, "model": null}
          ],                               # passed is null for an assertion never checked
          "judge": {"cached": 1, "new": 0, "calls": 0, "input_tokens": 0, "output_tokens": 0,
                    "cost_usd": 0.0}
        }
      ],
      "judge": {"cached": 27, "new": 3, "calls": 1, "input_tokens": 2100, "output_tokens": 300,
                "tokens": 2400, "cost_usd": 0.0108},
      "verdicts": {"path": "flywheel/verdicts.jsonl", "cached": 27, "new": 3, "unused": 2,
                   "pruned": 0, "written": true}
    }
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.files import write_atomic
from pytest_flywheel.pytest_plugin.reporting import group_outcomes, pass_rate

if TYPE_CHECKING:
    from pytest_flywheel.pytest_plugin.outcome import CaseOutcome
    from pytest_flywheel.pytest_plugin.runtime import FlywheelRuntime

REPORT_VERSION = 1


def _case(outcome: CaseOutcome) -> dict[str, Any]:
    return {
        "nodeid": outcome.nodeid,
        "suite": outcome.suite,
        "case_id": outcome.case_id,
        "outcome": outcome.status,
        "duration_ms": round(outcome.duration_ms, 3),
        "latency_ms": None if outcome.latency_ms is None else round(outcome.latency_ms, 3),
        "tokens": outcome.agent_tokens,
        "cost_usd": outcome.agent_cost_usd,
        "output": outcome.output,
        "message": outcome.error or outcome.raised,
        "assertions": [
            {
                "assertion": result.assertion,
                "kind": result.kind,
                "passed": result.passed,
                "reason": result.reason,
                "cached": result.cached,
                "confidence": result.confidence,
                "key": result.key,
                "model": result.model,
            }
            for result in outcome.assertions
        ],
        "judge": {
            "cached": outcome.judge.cached,
            "new": outcome.judge.new,
            "calls": outcome.judge.calls,
            "input_tokens": outcome.judge.input_tokens,
            "output_tokens": outcome.judge.output_tokens,
            "cost_usd": round(outcome.judge.cost_usd, 6),
        },
    }


def build_report(runtime: FlywheelRuntime) -> dict[str, Any]:
    """The session's report dict (see the module docstring for the format)."""
    outcomes = list(runtime.outcomes.values())
    minimum = runtime.options.min_pass_rate
    suites: dict[str, Any] = {}
    for name, group in group_outcomes(outcomes).items():
        rate = pass_rate(group)
        counts = {
            status: sum(1 for o in group if o.status == status)
            for status in ("passed", "failed", "error", "skipped")
        }
        suites[name] = {
            "cases": len(group),
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
            "pass_rate": rate,
            "passed_min_pass_rate": minimum is None or rate is None or rate >= minimum,
        }
    met = all(suite["passed_min_pass_rate"] for suite in suites.values())
    stats = runtime.stats()
    written = runtime.write_result
    ended = time.time()
    return {
        "version": REPORT_VERSION,
        "started_at": runtime.started_at,
        "ended_at": ended,
        "duration_s": round(ended - runtime.started_at, 3),
        "passed": met and all(o.status in ("passed", "skipped") for o in outcomes),
        "min_pass_rate": minimum,
        "passed_min_pass_rate": met,
        "suites": suites,
        "cases": [_case(outcome) for outcome in outcomes],
        "judge": stats,
        "verdicts": {
            "path": _relative(runtime.settings.verdicts_path, runtime.settings.root),
            "cached": stats["cached"],
            "new": stats["new"],
            "unused": len(runtime.unused_keys),
            "pruned": len(written.pruned) if written is not None else 0,
            "written": bool(written is not None and written.written),
        },
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the report as indented JSON, atomically."""
    write_atomic(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
