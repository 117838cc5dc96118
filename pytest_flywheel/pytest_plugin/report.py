"""The JSON report (``--flywheel-report PATH``); the same dict is recorded as the session's run in the
store (``pytest_flywheel.runs.record_run``). Built from values: the session's
:class:`~pytest_flywheel.pytest_plugin.results.SessionResults` and
:class:`~pytest_flywheel.pytest_plugin.verdicts.VerdictSummary`.

Format, version 2 (keys always present unless marked optional; times are Unix epoch seconds)::

    {
      "version": 2,
      "started_at": 1763772000.0,          # when the session was configured
      "ended_at": 1763772012.5,
      "duration_s": 12.5,
      "passed": false,                     # the session's exit status is 0 (every test passed, every
                                           # pass rate met the minimum)
      "exit_status": 1,                    # the session's exit status
      "min_pass_rate": 0.95,               # null when --flywheel-min-pass-rate is not set
      "passed_min_pass_rate": true,        # every suite's pass rate >= min_pass_rate (true when unset;
                                           # hand-written tests are no suite)
      "suites": {                          # per suite name; judged hand-written tests under
        "customer-support-qa": {           # "(hand-written tests)"
          "cases": 10, "passed": 9, "failed": 1, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0,
          "pass_rate": 0.9,                # (passed + xpassed) / (that + failed + errors); null if none
          "passed_min_pass_rate": false
        }
      },
      "cases": [
        {
          "nodeid": "flywheel/suites/customer-support-qa.yaml::refund-1",
          "suite": "customer-support-qa",  # null for a hand-written test
          "case_id": "refund-1",           # null for a hand-written test
          "file": "flywheel/suites/customer-support-qa.yaml",  # the suite file (null: hand-written)
          "line": 12,                      # the case's line in it
          "outcome": "passed",             # passed | failed | error | skipped | xfailed | xpassed
          "duration_ms": 812.4,            # setup + call + teardown, as pytest measured them
          "latency_ms": 640.2,             # the target's own call (null when it did not run)
          "tokens": 1234,                  # the agent's LLM tokens (null when unknown)
          "cost_usd": 0.0042,              # the agent's LLM cost (null when a price is unknown)
          "output": "...",                 # the target's return value, as JSON
          "trajectory": [...],             # a failing case's tool and LLM calls (null when it passed
                                           # or did not run)
          "message": null,                 # the error, or what failed (the exception raised)
          "summary": null,                 # the error in one line, when it has one
          "miss_at": null,                 # a cassette miss: the request body's JSON path at which
                                           # it differs from the closest recorded request ("system")
          "assertions": [
            {"assertion": "The reply offers a refund", "kind": "sentence", "passed": true,
             "reason": "...", "cached": true, "confidence": 0.97, "key": "sha256:...",
             "model": "claude-sonnet-5-5",
             "votes": [true, true, false],  # --flywheel-judge-repeats' answers (null: one answer)
             "flaky": true,                 # the answers split
             "labelled": false},            # a person's label decided it (flywheel/labels.jsonl)
            {"assertion": "contains: 'refund'", "kind": "check", "passed": true, "reason": "...",
             "cached": null, "confidence": null, "key": null, "model": null}
          ],                               # passed is null for an assertion never checked
          "judge": {"cached": 1, "new": 0, "calls": 0, "input_tokens": 0, "output_tokens": 0,
                    "tokens": 0, "cost_usd": 0.0},
          "runs": {"passed": 2, "total": 3, "threshold": 2, "varied": ["..."]}  # null: one run
                                           # ({"asked": 3, "total": 1, "replayed": true}: replayed once)
        }
      ],
      "judge": {"cached": 27, "new": 3, "calls": 1, "input_tokens": 2100, "output_tokens": 300,
                "tokens": 2400, "cost_usd": 0.0108},
      "verdicts": {"path": "flywheel/verdicts.jsonl", "cached": 27, "new": 3, "unused": 2,
                   "pruned": 0, "written": true},
      "over_budget": []                    # cases past a --flywheel-max-*-increase, as lines
    }
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_flywheel.files import write_atomic
from pytest_flywheel.pytest_plugin.gate import minimum_met
from pytest_flywheel.pytest_plugin.outcome import STATUSES, CaseOutcome
from pytest_flywheel.pytest_plugin.results import SessionResults, pass_rate
from pytest_flywheel.pytest_plugin.verdicts import VerdictSummary

REPORT_VERSION = 2


def _case(outcome: CaseOutcome) -> dict[str, Any]:
    return {
        "nodeid": outcome.nodeid,
        "suite": outcome.suite,
        "case_id": outcome.case_id,
        "file": outcome.file,
        "line": outcome.line,
        "outcome": outcome.status,
        "duration_ms": round(outcome.duration_ms, 3),
        "latency_ms": None if outcome.latency_ms is None else round(outcome.latency_ms, 3),
        "tokens": outcome.agent_tokens,
        "cost_usd": outcome.agent_cost_usd,
        "output": outcome.output,
        # what a reader needs to see why a case failed; a passing case's calls are in its cassette
        "trajectory": outcome.trajectory if outcome.status in ("failed", "error", "xfailed") else None,
        "message": outcome.error or outcome.raised,
        "summary": outcome.summary,
        "miss_at": outcome.miss_at,
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
                "votes": result.votes,
                "flaky": result.flaky,
                "labelled": result.labelled,
            }
            for result in outcome.assertions
        ],
        "judge": outcome.judge.as_dict(),
        "runs": outcome.runs,
    }


def suite_figures(results: SessionResults, minimum: float | None) -> dict[str, dict[str, Any]]:
    """Per suite (hand-written tests as one group): counts by status, pass rate, minimum met."""
    suites: dict[str, dict[str, Any]] = {}
    for name, group in results.groups().items():
        rate = pass_rate(group)
        counts = {status: sum(1 for o in group if o.status == status) for status in STATUSES}
        suites[name] = {
            "cases": len(group),
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
            "xfailed": counts["xfailed"],
            "xpassed": counts["xpassed"],
            "pass_rate": rate,
            "passed_min_pass_rate": minimum is None or rate is None or rate >= minimum,
        }
    return suites


def build_report(
    results: SessionResults,
    *,
    verdicts: VerdictSummary | None,
    root: Path,
    min_pass_rate: float | None,
    exit_status: int,
    started_at: float,
    ended_at: float,
) -> dict[str, Any]:
    """The session's report dict (see the module docstring for the format)."""
    suites = suite_figures(results, min_pass_rate)
    usage = results.judge_usage().as_dict()
    written = verdicts.written if verdicts is not None else None
    return {
        "version": REPORT_VERSION,
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_s": round(ended_at - started_at, 3),
        "passed": exit_status == 0,
        "exit_status": exit_status,
        "min_pass_rate": min_pass_rate,
        "passed_min_pass_rate": minimum_met(results, min_pass_rate),
        "suites": suites,
        "cases": [_case(outcome) for outcome in results.outcomes],
        "judge": usage,
        "verdicts": {
            "path": _relative(verdicts.path, root) if verdicts is not None else None,
            "cached": usage["cached"],
            "new": usage["new"],
            "unused": len(verdicts.unused) if verdicts is not None else 0,
            "pruned": verdicts.pruned if verdicts is not None else 0,
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
