"""``flywheel verdicts review`` and ``flywheel verdicts label``: people's labels on the judge's verdicts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import (
    add_json_option,
    add_store_option,
    print_json,
    require_store,
    store_path,
)
from pytest_flywheel.config import load_settings
from pytest_flywheel.errors import FlywheelError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verdicts",
        help="Review the judge's verdicts and label them (people's ground truth)",
        description="People's labels on the judge's verdicts live in flywheel/labels.jsonl (commit it). "
        "A label overrides the judge in the gate; `flywheel judge agreement` measures the judge against them.",
    )
    sub = parser.add_subparsers(dest="verdicts_command", metavar="ACTION", required=True)

    review = sub.add_parser(
        "review",
        help="Go over verdicts one by one and agree or disagree with the judge",
        description="Shows each verdict with the case input, the output and a trajectory summary from "
        "the newest recorded run that judged it; answer a (agree), d (disagree), s (skip) or q (quit), "
        "optionally followed by a note. Each answer is saved at once.",
    )
    review.add_argument("--suite", type=values.suite_name, metavar="SUITE", help="Only the verdicts of this suite")
    review.add_argument("--flaky", action="store_true", help="Only verdicts whose judge repeats split")
    review.add_argument(
        "--disagreements",
        action="store_true",
        help="Labelled verdicts whose label contradicts the judge, to look at again",
    )
    add_store_option(review)
    review.set_defaults(func=run_review)

    label = sub.add_parser(
        "label",
        help="Label one assertion of one case pass or fail",
        description="Labels the verdict that the newest recorded run of CASE got on its assertion "
        "number INDEX (counted from 1, as in the suite file).",
    )
    label.add_argument("case", type=values.text, metavar="CASE", help="SUITE::CASE_ID, a case id, or a hand-written test's node id")
    label.add_argument("index", metavar="INDEX", type=values.count, help="The assertion's number in the case, from 1")
    label.add_argument("answer", metavar="PASS|FAIL", choices=("pass", "fail"), help="What a person found: pass or fail")
    label.add_argument("--note", type=values.text, metavar="TEXT", help="Why (kept with the label)")
    add_json_option(label, "Print the label written as JSON")
    add_store_option(label)
    label.set_defaults(func=run_label)

    merge = sub.add_parser(
        "merge",
        help="Merge verdict files written by CI shards into the project's verdict file",
        description="Each shard of a split suite (--flywheel-shard I/N) writes its own verdicts.jsonl; this "
        "merges them into flywheel/verdicts.jsonl (or --into), each verdict once. Where two files judged one "
        "key differently, the later verdict is kept and the conflict listed. Exit 0 when merged.",
    )
    merge.add_argument("files", nargs="+", type=values.path, metavar="FILE", help="Verdict files to merge in")
    merge.add_argument(
        "--into", type=values.output, metavar="PATH", help="The verdict file to merge into (default: the project's)"
    )
    add_json_option(merge, "Print the result as JSON")
    merge.set_defaults(func=run_merge)


def _runs_store(args: argparse.Namespace) -> Path:
    """The store whose run records hold the replies. The default one may not exist yet (a fresh
    clone: nothing recorded); one named with --store must."""
    path = store_path(args)
    if getattr(args, "store", None):
        if not path.exists():
            raise FlywheelError(
                f"no store at {path}: point --store at the .flywheel/flywheel.db your test runs write."
            )
        require_store(path)  # a folder, a text file or an empty file is not a store to read runs from
    return path


def run_review(args: argparse.Namespace) -> int:
    from pytest_flywheel.redaction import build_redactor
    from pytest_flywheel.trust.labels import labels_path
    from pytest_flywheel.trust.review import nothing_to_review, run_review, select

    settings = load_settings()
    redactor = build_redactor(settings)
    selection = select(
        settings, _runs_store(args), suite=args.suite, flaky=args.flaky, disagreements=args.disagreements
    )
    for problem in selection.problems:
        print(f"flywheel: warning: {problem}", file=sys.stderr)
    if not selection.items:
        raise nothing_to_review(selection, suite=args.suite, flaky=args.flaky, disagreements=args.disagreements)
    path = labels_path(settings)
    skipped = (
        f" ({selection.without_output} more have no recorded reply to show: run their suite to review them)"
        if selection.without_output
        else ""
    )
    print(f"{len(selection.items)} verdicts to review{skipped}. Labels go to {path}.\n")

    # A line that is not UTF-8 (a terminal in another encoding) arrives as lone surrogates, which the
    # review refuses and asks again, instead of a decoding error ending the review.
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="surrogateescape")

    def ask(prompt: str) -> str | None:
        try:
            return input(prompt)
        except EOFError:
            print()
            return None

    summary = run_review(selection.items, path=path, ask=ask, out=sys.stdout, redact=redactor.text)
    left = len(selection.items) - summary.labelled - summary.skipped
    print(
        f"Labelled {summary.labelled} ({summary.agreed} agreed, {summary.disagreed} disagreed), "
        f"skipped {summary.skipped}" + (f", {left} left for later" if left else "") + "."
    )
    return 0


def run_label(args: argparse.Namespace) -> int:
    from pytest_flywheel.redaction import build_redactor
    from pytest_flywheel.trust.labelling import label_assertion

    settings = load_settings()
    label, target = label_assertion(
        settings,
        _runs_store(args),
        args.case,
        args.index,
        passed=args.answer == "pass",
        note=args.note or "",
        redact=build_redactor(settings).text,
    )
    if args.json:
        print_json(label.to_json())
        return 0
    said = "PASS" if label.passed else "FAIL"
    judge = {True: "PASS", False: "FAIL", None: "unknown"}[target.judge_passed]
    agreement = {True: "agrees with the judge", False: "disagrees with the judge", None: ""}[label.agrees]
    print(
        f"Labelled {target.case_key} assertion {target.index} ({target.assertion}) {said}; "
        f"the judge said {judge}" + (f": the label {agreement}." if agreement else ".")
    )
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from pytest_flywheel.judge.cache import merge_verdict_files

    target = args.into or load_settings().verdicts_path
    _check_shard_files(args.files)
    result = merge_verdict_files(target, args.files)
    summary = {
        "path": str(target),
        "entries": result.written.entries,
        "added": result.added,
        "written": result.written.written,
        "conflicts": [{"key": key, "kept_from": later, "other": earlier} for key, earlier, later in result.conflicts],
    }
    if args.json:
        print_json(summary)
        return 0
    print(f"merged {len(args.files)} file(s) into {target}: {result.added} verdicts added, {result.written.entries} in all")
    for key, earlier, later in result.conflicts:
        print(f"conflict {key[:19]}: {earlier} and {later} disagree; kept the later verdict", file=sys.stderr)
    return 0


def _check_shard_files(files: list[Path]) -> None:
    """Every file to merge is a regular file whose every line is a verdict: a damaged or wrong
    artifact stops the merge before anything is written, naming its lines."""
    from pytest_flywheel.judge.cache import VerdictCache

    for path in files:
        if path.exists() and not path.is_file():
            raise FlywheelError(f"{path} is not a verdict file but a folder or a device: give the files the shards wrote")
        problems = VerdictCache.load(path, warn=False, append=False).problems if path.is_file() else []
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise FlywheelError(f"{path} is not a clean verdict file, so nothing was merged: {shown}")
