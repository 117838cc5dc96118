"""``flywheel analyze TRACE_ID``: find the step that went wrong in a bad trace."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, add_store_option, open_store_for_reading
from pytest_flywheel.config import load_settings

DESCRIPTION = """\
Walk a trace's span tree to the step that went wrong. Rules run first and need no API key: the
first error and its exception chain, tool calls that raised or returned nothing or an error, LLM
calls cut off at max_tokens or refused, an answer that shares little with the retrieved context or
states figures and codes nothing gave it, repeated identical tool calls, latency or cost far above
the entrypoint's usual. The trace is
compared with the most similar successful trace of the same entrypoint. When ANTHROPIC_API_KEY is
set (ANTHROPIC_BASE_URL may point at a compatible endpoint), an LLM analyst then reads the tree
through tools and names the root cause."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="Find the step that went wrong in a bad trace",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "trace_id", type=values.text, metavar="TRACE_ID", help="The trace to analyse (an id or a unique prefix)"
    )
    parser.add_argument(
        "--ask", type=values.text, metavar="QUESTION", help="The question the LLM analyst should answer"
    )
    parser.add_argument(
        "--compare",
        type=values.text,
        metavar="WHICH",
        default="auto",
        help="The successful trace to compare with: auto (the most similar one, the default), none, or a "
        "trace id",
    )
    parser.add_argument("--no-llm", action="store_true", help="Use the rules only, even when a key is set")
    parser.add_argument(
        "--model",
        type=values.text,
        metavar="MODEL",
        help="The LLM analyst's model (default: FLYWHEEL_ANALYST_MODEL, [tool.flywheel] analyst_model, judge_model)",
    )
    parser.add_argument(
        "--max-rounds",
        type=values.count,
        default=8,
        metavar="N",
        help="Most tool-use rounds the LLM analyst may take (default 8)",
    )
    add_json_option(parser, "Print the analysis as JSON")
    parser.add_argument(
        "--add-to-suite",
        type=values.text,
        metavar="SUITE",
        help="Add this trace as a case of SUITE with the suggested assertions you confirm",
    )
    parser.add_argument(
        "--yes", "-y", action="store_true", help="With --add-to-suite: add every suggested assertion"
    )
    parser.add_argument(
        "--allow-duplicate",
        action="store_true",
        help="With --add-to-suite: add the case even if it looks like one the suite has",
    )
    add_store_option(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from pytest_flywheel.analysis.analyzer import AnalyzeOptions, analyze
    from pytest_flywheel.analysis.report import render_json, render_text

    settings = load_settings()
    # --model, then FLYWHEEL_ANALYST_MODEL, then [tool.flywheel] analyst_model, then the judge's model.
    model = (
        args.model
        or os.environ.get("FLYWHEEL_ANALYST_MODEL")
        or str(settings.raw.get("analyst_model") or settings.judge_model)
    )
    compare = None if args.compare.lower() == "none" else args.compare
    from pytest_flywheel.redaction import build_redactor

    redactor = build_redactor(settings)
    with open_store_for_reading(args) as store:
        analysis = analyze(
            store,
            args.trace_id,
            AnalyzeOptions(
                compare=compare,
                use_llm=not args.no_llm,
                question=args.ask,
                model=model,
                max_rounds=args.max_rounds,
                redact=redactor.text,
            ),
        )
    # The report may be saved or pasted: the project's redaction applies to it as to every file.
    if args.json:
        print(render_json(analysis, redactor.value))
    else:
        print(redactor.text(render_text(analysis)), end="")

    if analysis.analyst.status == "error":
        # The rule findings are printed above; the failure still fails the command.
        print(f"flywheel: error: {analysis.analyst.message}", file=sys.stderr)
        if args.add_to_suite:
            print(
                "flywheel: nothing was added to the suite; rerun with --no-llm to add the rules' assertions.",
                file=sys.stderr,
            )
        return 1
    if args.add_to_suite:
        return _add_to_suite(analysis, args, settings)
    return 0


def _add_to_suite(analysis: Any, args: argparse.Namespace, settings: Any) -> int:
    from pytest_flywheel.analysis.to_suite import add_to_suite, confirm_assertions

    assertions = analysis.suggested_assertions
    if not assertions:
        print(
            f"flywheel: no suggested assertions for trace {analysis.trace.id}: nothing added to "
            f"{args.add_to_suite}.",
            file=sys.stderr,
        )
        return 0
    accepted = confirm_assertions(assertions, yes=args.yes)
    if not accepted:
        print(f"flywheel: no assertion accepted: nothing added to {args.add_to_suite}.", file=sys.stderr)
        return 0
    if getattr(args, "store", None):
        settings = dataclasses.replace(settings, store=Path(args.store))
    added = add_to_suite(
        analysis, args.add_to_suite, accepted, settings=settings, allow_duplicate=args.allow_duplicate
    )
    cassette = f", cassette {added.cassette_path}" if added.cassette_path else ""
    print(
        f"flywheel: added case {added.case.id!r} with {len(accepted)} assertion(s) to {added.suite_path}"
        f"{cassette}.",
        file=sys.stderr,
    )
    return 0
