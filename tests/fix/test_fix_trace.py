"""``flywheel fix TRACE_ID``: the trace's analysis, and the cases captured from it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.store import Store
from pytest_flywheel.testing import MessagesAPIServer

from ..analysis.builders import TraceBuilder
from .shop import CANADA_FIX, script_fixer

QUESTION = "Do you ship to Canada?"


def write_trace(project: str = "shop") -> str:
    trace = TraceBuilder(name="answer", input={"question": QUESTION}, project=project)
    trace.span(
        "lookup_shipping",
        "tool",
        input={"country": "CA"},
        output={"error": "no rate for CA"},
    )
    with Store(os.environ["FLYWHEEL_STORE"]) as store:
        trace.finish(store, output="Shipping to Canada is free.")
    return trace.trace_id


def capture(project: Path, trace_id: str) -> None:
    suite = project / "flywheel/suites/qa.yaml"
    text = suite.read_text().replace(
        "      - contains: 15 EUR\n", f"      - contains: 15 EUR\n    source: {{trace_id: {trace_id}}}\n", 1
    )
    suite.write_text(text)


def test_a_trace_brings_its_analysis_and_the_case_captured_from_it(
    shop: Path,
    fixer: MessagesAPIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trace_id = write_trace()
    capture(shop, trace_id)
    script_fixer(fixer, ("edit_file", CANADA_FIX))
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))

    assert main(["fix", trace_id[:-1]]) == 0

    out = capsys.readouterr().out
    assert f"Fixing trace {trace_id}, captured as qa::canada." in out
    assert "FIXED (1)\n  qa::canada   failed → passed" in out
    assert "Applied: app/policy.py." in out
    opening = fixer.message_requests[0].body["messages"][0]["content"]
    assert f"Analysis of trace {trace_id} (rules and comparison, no LLM):" in opening
    assert "tool.error_payload on lookup_shipping" in opening
    assert (
        f"Trajectory (from the production trace {trace_id} it was captured from):\n"
        '  - tool lookup_shipping({"country": "CA"}) -> {"error": "no rate for CA"}'
    ) in opening


def test_a_trace_no_case_was_captured_from_is_fixed_unvalidated_and_says_so(
    shop: Path,
    fixer: MessagesAPIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trace_id = write_trace()
    script_fixer(fixer, ("edit_file", CANADA_FIX))

    assert main(["fix", trace_id, "--yes"]) == 0

    out = capsys.readouterr().out
    assert f"Fixing trace {trace_id}, captured in no suite yet." in out
    assert f"Not validated: no case was captured from trace {trace_id}" in out
    assert "costs 15 EUR" in (shop / "app/policy.py").read_text()


def test_a_name_that_is_neither_a_suite_nor_a_trace_is_a_clear_error(
    shop: Path, fixer: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fix", "nosuch"]) == 1

    err = capsys.readouterr().err
    assert err.startswith(
        "flywheel: error: 'nosuch' is neither a suite (no nosuch.yaml in flywheel/suites) nor a trace"
    )
    assert fixer.message_requests == []
