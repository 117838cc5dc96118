"""``flywheel candidates propose | list | show | accept | reject``: proposed cases from production clusters."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, print_json, print_json_line
from pytest_flywheel.cli.triage import add_window_options, run_window
from pytest_flywheel.config import Settings, load_settings
from pytest_flywheel.errors import FlywheelError

if TYPE_CHECKING:
    from pytest_flywheel.evolve.candidates import Candidate, CandidatesFile

DESCRIPTION = """\
Candidates are the cases production failures suggest, written to flywheel/candidates/SUITE.yaml for
review (pytest does not run that file). `propose` triages the window (as `flywheel triage`) and adds
one candidate per cluster of the suite's entrypoint that no case covers, most frequent first, with
suggested assertions; `accept` captures one into the suite with its cassette; `reject` remembers the
cluster so it is not proposed again."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "candidates",
        help="Propose cases from production failure clusters, and review them",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="candidates_command", metavar="ACTION", required=True)

    propose = commands.add_parser(
        "propose",
        help="Add a candidate per uncovered failure cluster to flywheel/candidates/SUITE.yaml",
        description="Triage the window's failures and add one candidate case per cluster of the suite's "
        "entrypoint that no case covers, most frequent first, with suggested assertions.",
    )
    propose.add_argument("suite", type=values.suite_name, metavar="SUITE", help="The suite the candidates are for")
    propose.add_argument(
        "--limit", type=values.count, default=10, metavar="N", help="New candidates at most (default 10)"
    )
    add_json_option(propose, "Print what was proposed as JSON")
    add_window_options(propose)
    propose.set_defaults(func=_propose)

    listing = commands.add_parser(
        "list",
        help="List the candidates of one suite, or of all",
        description="List the candidates with their state, cluster size and input.",
    )
    listing.add_argument(
        "suite", nargs="?", type=values.suite_name, metavar="SUITE", help="Only this suite's candidates"
    )
    listing.add_argument(
        "--status",
        choices=("proposed", "accepted", "rejected"),
        metavar="STATUS",
        help="Only candidates in this state: proposed, accepted or rejected",
    )
    add_json_option(listing, "One JSON object per candidate")
    listing.set_defaults(func=_list)

    show = commands.add_parser(
        "show",
        help="Show one candidate: its cluster, input and assertions",
        description="Show a candidate: its cluster, example traces, input and suggested assertions.",
    )
    show.add_argument("candidate", type=values.text, metavar="ID", help="A candidate id, or a unique prefix of one")
    show.add_argument(
        "--suite", type=values.suite_name, metavar="SUITE", help="The suite, when the id is proposed for several"
    )
    add_json_option(show, "Print the candidate as JSON")
    show.set_defaults(func=_show)

    accept = commands.add_parser(
        "accept",
        help="Capture a candidate into its suite, with its cassette",
        description="Capture a candidate's example trace into its suite as a case, with its cassette.",
    )
    accept.add_argument("candidate", type=values.text, metavar="ID", help="A candidate id, or a unique prefix of one")
    accept.add_argument(
        "--suite", type=values.suite_name, metavar="SUITE", help="The suite, when the id is proposed for several"
    )
    accept.add_argument("--edit", action="store_true", help="Edit the candidate in $VISUAL or $EDITOR first")
    accept.add_argument("--allow-duplicate", action="store_true", help="Add it even if it looks like a case of the suite")
    add_json_option(accept, "Print the accepted candidate as JSON")
    accept.set_defaults(func=_accept)

    reject = commands.add_parser(
        "reject",
        help="Reject a candidate; its cluster is not proposed again",
        description="Reject a candidate, with the reason; its cluster is remembered and not proposed again.",
    )
    reject.add_argument("candidate", type=values.text, metavar="ID", help="A candidate id, or a unique prefix of one")
    reject.add_argument("--reason", type=values.text, required=True, metavar="TEXT", help="Why it is rejected, for reviewers")
    reject.add_argument(
        "--suite", type=values.suite_name, metavar="SUITE", help="The suite, when the id is proposed for several"
    )
    add_json_option(reject, "Print the rejected candidate as JSON")
    reject.set_defaults(func=_reject)


def _files(settings: Settings) -> list[Path]:
    folder = settings.dir / "candidates"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".yaml" and p.is_file() and not p.name.startswith("."))


def _locate(settings: Settings, wanted: str, suite: str | None) -> tuple[CandidatesFile, Candidate]:
    """The file and candidate an id (or prefix) names, looking in every suite's file unless ``suite``."""
    from pytest_flywheel.evolve.candidates import CandidateNotFoundError, read_candidates

    suites = [suite] if suite else [path.stem for path in _files(settings)]
    if not suites:
        raise CandidateNotFoundError(
            f"no candidates yet in {settings.dir / 'candidates'}: run `flywheel candidates propose SUITE`"
        )
    found: list[tuple[CandidatesFile, Candidate]] = []
    misses: list[str] = []
    for name in suites:
        file = read_candidates(settings, name, must_exist=True)
        try:
            found.append((file, file.find(wanted)))
        except CandidateNotFoundError as exc:
            misses.append(str(exc))
    if len(found) == 1:
        return found[0]
    if not found:
        raise CandidateNotFoundError(misses[0] if len(misses) == 1 else f"no candidate {wanted!r} in any suite's file")
    where = ", ".join(file.suite for file, _ in found)
    raise CandidateNotFoundError(f"candidate {wanted!r} is proposed for several suites ({where}): pass --suite")


def _propose(args: argparse.Namespace) -> int:
    from pytest_flywheel.evolve.proposing import propose

    limit = args.limit
    settings = load_settings()
    report, redactor = run_window(args, settings)
    if report.llm.status == "error":  # before anything is written or printed: no half-labelled proposal
        raise FlywheelError(f"{report.llm.message} Nothing was proposed.")
    result = propose(settings, args.suite, report, limit=limit)
    if args.json:
        print_json(redactor.value({**result.to_json(), "llm": report.llm.to_json()}))
    else:
        labels = "rule labels only" if report.llm.status == "skipped" else "rule and LLM labels"
        lines = [f"Triage: {_count(report.failures, 'failure')} in {_count(len(report.clusters), 'cluster')}, "
                 f"{len(report.uncovered)} not covered by a suite case ({labels}"
                 f"{': ' + report.llm.message if report.llm.status == 'skipped' else ''})."]
        lines.extend(f"note: {note}" for note in result.notes)
        for candidate in result.added:
            lines.append(f"proposed {candidate.id}  {_count(candidate.cluster['count'], 'failure')}  {_labels(candidate)}  "
                         f"{_preview(candidate.input)}")
        if result.refreshed:
            lines.append(f"{len(result.refreshed)} candidate(s) proposed before: figures refreshed, edits kept")
        for candidate in result.remembered:
            lines.append(f"not proposed again: {candidate.id} ({candidate.status}"
                         f"{': ' + candidate.rejected_reason if candidate.rejected_reason else ''})")
        if result.skipped_other_entrypoint:
            lines.append(f"{result.skipped_other_entrypoint} uncovered cluster(s) of other entrypoints than "
                         f"{result.target}: they belong to another suite")
        if result.added or result.refreshed:
            lines.append(f"Wrote {_relative(result.file.path, settings)}: review it, then "
                         "`flywheel candidates accept ID` or `reject ID --reason ...`")
        else:
            lines.append("Nothing to propose: every failure cluster of this window is covered, remembered, or "
                         "of another entrypoint.")
        print(redactor.text("\n".join(lines)))
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _relative(path: Path, settings: Settings) -> str:
    try:
        return str(path.resolve().relative_to(settings.root))
    except ValueError:
        return str(path)


def _labels(candidate: Candidate) -> str:
    return ", ".join(candidate.cluster.get("labels") or []) or "no label"


def _preview(value: Any, limit: int = 70) -> str:
    from pytest_flywheel.analysis.text import short_json

    return short_json(value, limit)


def _list(args: argparse.Namespace) -> int:
    from pytest_flywheel.cli.traces import format_table
    from pytest_flywheel.evolve.candidates import read_candidates

    settings = load_settings()
    suites = [args.suite] if args.suite else [path.stem for path in _files(settings)]
    rows = [["ID", "SUITE", "STATUS", "COUNT", "TREND", "LABELS", "INPUT"]]
    shown = 0
    for suite in suites:
        file = read_candidates(settings, suite, must_exist=bool(args.suite))
        for candidate in file.candidates:
            if args.status and candidate.status != args.status:
                continue
            shown += 1
            if args.json:
                print_json_line({"suite": suite, **candidate.to_data()})
                continue
            cluster = candidate.cluster
            rows.append([candidate.id, suite, candidate.status, str(cluster.get("count", "")),
                         str(cluster.get("trend", "")), _labels(candidate), _preview(candidate.input, 60)])
    if not args.json:
        if shown:
            print(format_table(rows))
        else:
            print("No candidates. Propose some with: flywheel candidates propose SUITE")
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = load_settings()
    file, candidate = _locate(settings, args.candidate, args.suite)
    if args.json:
        print_json({"suite": file.suite, "path": _relative(file.path, settings), "line": file.lines.get(candidate.id),
                    **candidate.to_data()})
        return 0
    print(render_candidate(file, candidate, settings))
    return 0


def render_candidate(file: CandidatesFile, candidate: Candidate, settings: Settings) -> str:
    cluster = candidate.cluster
    lines = [
        f"Candidate {candidate.id} for suite {file.suite} ({_relative(file.path, settings)}, line "
        f"{file.lines.get(candidate.id, '?')}): {candidate.status}",
        f"  cluster: {cluster.get('count')} failures, {cluster.get('trend', '?')}, {cluster.get('first_seen', '?')} .. "
        f"{cluster.get('last_seen', '?')}",
        f"  labels: {_labels(candidate)}",
        f"  first bad step: {cluster.get('signature')}",
        f"  entrypoint: {cluster.get('entrypoint')}",
        f"  trace: {candidate.trace_id}",
        f"  case id: {candidate.case_id}",
        f"  input: {json.dumps(candidate.input, ensure_ascii=False)[:300]}",
        "  assertions:",
    ]
    for assertion in candidate.assertions:
        shown = assertion if isinstance(assertion, str) else json.dumps(assertion, ensure_ascii=False)
        lines.append(f"    - {shown}")
    if candidate.notes:
        lines.append(f"  notes: {candidate.notes}")
    if candidate.status == "accepted":
        lines.append(f"  accepted as {candidate.accepted_case} at {candidate.accepted_at}")
    if candidate.status == "rejected":
        lines.append(f"  rejected at {candidate.rejected_at}: {candidate.rejected_reason}")
    return "\n".join(lines)


def edit_in_editor(candidate: Candidate, *, environ: dict[str, str] | None = None) -> Candidate:
    """The candidate as the user leaves it in ``$VISUAL`` / ``$EDITOR`` (its id and status unchanged)."""
    from pytest_flywheel.evolve.candidates import Candidate as CandidateType
    from pytest_flywheel.evolve.candidates import CandidatesFileError
    from pytest_flywheel.suites.editing import dump_document
    from pytest_flywheel.suites.reading import parse_yaml

    env = os.environ if environ is None else environ
    editor = env.get("VISUAL") or env.get("EDITOR")
    if not editor:
        raise FlywheelError("--edit opens $VISUAL or $EDITOR, and neither is set: set one (EDITOR=nano), or edit "
                            "the candidates file itself and accept without --edit")
    header = f"Candidate {candidate.id}: edit its input, case_id, assertions, tags or notes, save and quit."
    handle, name = tempfile.mkstemp(prefix=f"{candidate.id}-", suffix=".yaml")
    path = Path(name)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(dump_document(candidate.to_data(), comment=header))
    try:
        completed = subprocess.run([*shlex.split(editor), str(path)], check=False)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise FlywheelError(f"--edit: cannot run the editor {editor!r} ({exc}); nothing was added") from None
    if completed.returncode != 0:
        path.unlink(missing_ok=True)
        raise FlywheelError(f"--edit: the editor {editor!r} exited with status {completed.returncode}; nothing was added")
    parsed, problems = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    if parsed is None or not isinstance(parsed.data, dict):
        details = "; ".join(str(p) for p in problems) or "expected a mapping"
        raise CandidatesFileError(f"--edit: {details}; nothing was added (your edit is kept in {path})")
    path.unlink(missing_ok=True)
    data = dict(parsed.data, id=candidate.id, status=candidate.status)
    try:
        return CandidateType.from_data(data)
    except TypeError as exc:
        raise CandidatesFileError(f"--edit: the edited candidate has fields a candidate does not ({exc}); nothing was added") from None


def _accept(args: argparse.Namespace) -> int:
    from pytest_flywheel.evolve.proposing import accept

    settings = load_settings()
    file, candidate = _locate(settings, args.candidate, args.suite)
    accepted, added = accept(
        settings, file.suite, candidate.id, edit=edit_in_editor if args.edit else None,
        allow_duplicate=args.allow_duplicate,
    )  # fmt: skip
    if args.json:
        print_json({"suite": file.suite, **accepted.to_data(), "suite_path": _relative(added.suite_path, settings),
                    "cassette": _relative(added.cassette_path, settings) if added.cassette_path else None})
        return 0
    print(f"Accepted {accepted.id}: case {added.case.id} in {_relative(added.suite_path, settings)}")
    if added.cassette_path is not None:
        print(f"Cassette: {_relative(added.cassette_path, settings)}")
    print(f"Run it: pytest --flywheel-suite={file.suite} -k {added.case.id}")
    return 0


def _reject(args: argparse.Namespace) -> int:
    from pytest_flywheel.evolve.proposing import reject

    settings = load_settings()
    file, candidate = _locate(settings, args.candidate, args.suite)
    rejected = reject(settings, file.suite, candidate.id, reason=args.reason)
    if args.json:
        print_json({"suite": file.suite, **rejected.to_data()})
        return 0
    print(f"Rejected {rejected.id} ({rejected.rejected_reason}): its cluster will not be proposed again for {file.suite}")
    return 0
