"""``flywheel suite add | list | show | validate``: turn traces into cases and look after suite files."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import (
    add_json_option,
    add_store_option,
    print_json,
    print_json_line,
    safe_text,
)
from pytest_flywheel.config import Settings, load_settings
from pytest_flywheel.errors import FlywheelError

if TYPE_CHECKING:
    from pytest_flywheel.suites.errors import SuiteProblem
    from pytest_flywheel.suites.loading import LoadedSuite


class _AppendAssertion(argparse.Action):
    """--assert and --check append to one list, so the suite keeps the order they were given in."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((option_string, values))
        setattr(namespace, self.dest, items)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "suite",
        help="Add traces to test suites, list, show and validate suite files",
        description="Suite files (flywheel/suites/<name>.yaml) hold the regression cases that "
        "`pytest --flywheel-suite=NAME` runs.",
    )
    commands = parser.add_subparsers(dest="suite_command", metavar="ACTION", required=True)

    add = commands.add_parser(
        "add",
        help="Add a trace to a suite as a test case, with its cassette",
        description="Capture a trace (its input, entrypoint and recorded LLM and tool calls) as a case "
        "of SUITE; the suite file is created when it does not exist. With --replace, a case with the "
        "same id is overwritten: its input, assertions, source and cassette come from the trace and the "
        "options given, while its tags and notes stay as they were unless --tag or --notes is given.",
    )
    add.add_argument("suite", type=values.suite_name, metavar="SUITE", help="Suite name (flywheel/suites/SUITE.yaml)")
    add.add_argument(
        "--trace", type=values.text, required=True, metavar="TRACE_ID", help="Trace id, or a unique prefix of it"
    )
    add.add_argument(
        "--assert",
        dest="assertions",
        type=values.text,
        action=_AppendAssertion,
        metavar="SENTENCE",
        help='A sentence the output must satisfy, judged by the LLM judge (repeatable): "The response must ..."',
    )
    add.add_argument(
        "--check",
        dest="assertions",
        type=values.json_value("a check as JSON", parse_check),
        action=_AppendAssertion,
        metavar="JSON",
        help='A deterministic check as JSON (repeatable), such as \'{"contains": "Settings"}\'; kinds: '
        "contains, not_contains, regex, json_schema, tool_called (+ args), max_latency_ms, max_cost_usd",
    )
    add.add_argument(
        "--id", dest="case_id", type=values.text, metavar="CASE_ID", help="Case id (default: derived from the input)"
    )
    add.add_argument(
        "--tag", dest="tags", type=values.text, action="append", metavar="TAG", help="Tag the case (repeatable)"
    )
    add.add_argument("--notes", type=values.text, metavar="TEXT", help="Why this case exists, for reviewers")
    add.add_argument(
        "--replace",
        action="store_true",
        help="Overwrite a case with the same id (its tags and notes stay unless --tag or --notes is given)",
    )
    add.add_argument(
        "--allow-duplicate",
        action="store_true",
        help="Add the case even if it looks like one the suite has (same failure, or a near-identical input)",
    )
    add_store_option(add)
    add.set_defaults(func=_add)

    listing = commands.add_parser(
        "list",
        help="List the suites and their case counts",
        description="List the suite files with their case counts (an invalid file shows its number of "
        "problems). Exit status 1 when there is no suite.",
    )
    add_json_option(listing, "One JSON object per suite, one per line")
    listing.set_defaults(func=_list)

    show = commands.add_parser(
        "show",
        help="Show a suite's cases, assertions, sources and cassettes",
        description="Show a suite's target and each case: its line, input, assertions, source trace, "
        "cassette and notes.",
    )
    show.add_argument("suite", type=values.suite_name, metavar="SUITE", help="Suite name")
    add_json_option(show, "Print the suite as JSON, with lines and cassettes")
    show.set_defaults(func=_show)

    validate = commands.add_parser(
        "validate",
        help="Check suite files against the format; non-zero exit on any error",
        description="Check suite files (default: every suite) and each case's cassette, and print each "
        "problem as path:line: field: what is wrong; near-duplicate cases (the same failure, or a "
        "near-identical input, as `flywheel suite add` refuses) are reported as warnings. Exit status 1 "
        "when a file has a problem.",
    )
    validate.add_argument(
        "paths", nargs="*", type=values.path, metavar="PATH", help="Suite files, or suite names (default: all)"
    )
    validate.set_defaults(func=_validate)


def _settings() -> Settings:
    return load_settings()


def _relative(path: Path, settings: Settings) -> str:
    try:
        return str(path.resolve().relative_to(settings.root))
    except ValueError:
        return str(path)


def parse_check(text: str) -> dict[str, Any]:
    """A ``--check`` argument: JSON for a one-key check mapping; a ValueError naming what is wrong."""
    from pytest_flywheel.suites.models import CHECK_KINDS

    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{text!r} is not valid JSON ({exc.msg} at character {exc.pos}); write it like "
            '\'{"contains": "Settings"}\''
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{text!r} is not a check: expected a JSON object with one of {', '.join(CHECK_KINDS)}"
        )
    unknown = [key for key in value if key not in CHECK_KINDS and key != "args"]
    if unknown:
        raise ValueError(f"{text!r}: {unknown[0]!r} is not a known check; expected one of {', '.join(CHECK_KINDS)}")
    return value


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have and no check can compare with.
    raise ValueError(f"{name} is not a JSON value")


def _add(args: argparse.Namespace) -> int:
    from pytest_flywheel.suites.adding import add_case

    assertions: list[Any] = [value for _option, value in args.assertions or []]
    if not assertions:
        raise FlywheelError(
            'a case needs at least one assertion: add --assert "The response must ..." or --check '
            '\'{"contains": "..."}\''
        )
    settings = _settings()
    if args.store:
        settings = dataclasses.replace(settings, store=args.store.resolve())
    added = add_case(
        settings,
        args.suite,
        trace_id=args.trace,
        assertions=assertions,
        case_id=args.case_id,
        tags=args.tags,
        notes=args.notes,
        replace=args.replace,
        allow_duplicate=args.allow_duplicate,
    )
    verb = "Replaced" if added.replaced else "Added"
    print(f"{verb} case {added.case.id} in {_relative(added.suite_path, settings)}")
    if added.cassette_path is not None:
        print(f"Cassette: {_relative(added.cassette_path, settings)}")
    if added.llm_calls_to_record:
        calls = added.llm_calls_to_record
        print(f"Note: {calls} LLM call{'s' if calls != 1 else ''} of this trace came without the whole request "
              "and response (an imported trace), so the cassette holds only the tool calls. Record "
              f"{'them' if calls != 1 else 'it'} once with a key: ANTHROPIC_API_KEY=... "
              f"pytest --flywheel-suite={args.suite} --flywheel-record=new_episodes")
    print(f"Run it: pytest --flywheel-suite={args.suite}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from pytest_flywheel.suites.errors import SuiteFileError
    from pytest_flywheel.suites.loading import list_suite_paths, load_suite

    settings = _settings()
    paths = list_suite_paths(settings)
    if not paths:
        raise FlywheelError(
            f"no suites in {_relative(settings.suites_dir, settings)}: add one with "
            '`flywheel suite add SUITE --trace TRACE_ID --assert "The response must ..."`'
        )
    entries: list[dict[str, Any]] = []
    for path in paths:
        entry: dict[str, Any] = {"name": path.stem, "path": _relative(path, settings)}
        try:
            loaded = load_suite(path)
        except SuiteFileError as exc:
            entry.update(valid=False, cases=None, problems=len(exc.problems), target=None)
        else:
            entry.update(
                valid=True, cases=len(loaded.suite.cases), problems=0, target=loaded.suite.target
            )
        entries.append(entry)
    if args.json:
        for entry in entries:
            print_json_line(entry)
        return 0
    rows: list[tuple[str, str, str]] = []
    for entry in entries:
        if entry["valid"]:
            count = f"{entry['cases']} case{'s' if entry['cases'] != 1 else ''}"
        else:
            count = f"invalid ({entry['problems']} problem{'s' if entry['problems'] != 1 else ''})"
        rows.append((entry["name"], count, entry["path"]))
    width = max(len(row[0]) for row in rows)
    count_width = max(len(row[1]) for row in rows)
    for name, count, where in rows:
        print(f"{name:<{width}}  {count:<{count_width}}  {where}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from pytest_flywheel.suites.loading import find_suite_path, load_suite

    settings = _settings()
    loaded = load_suite(find_suite_path(args.suite, settings))
    suite = loaded.suite
    if args.json:
        print_json(_suite_json(loaded, settings))
        return 0
    print(f"Suite {suite.name} ({_relative(loaded.path, settings)})")
    print(f"  target: {suite.target or '(none yet: add a case from a trace)'}")
    if suite.description:
        print(f"  description: {suite.description}")
    if suite.judge is not None:
        print(f"  judge: {json.dumps(suite.judge.to_data(), sort_keys=True)}")
    print(f"  {len(suite.cases)} case{'s' if len(suite.cases) != 1 else ''}")
    for case in suite.cases:
        print()
        tags = f"  [{', '.join(case.tags)}]" if case.tags else ""
        print(f"{case.id}  (line {loaded.line_of(case.id)}){tags}")
        print(f"  input: {json.dumps(case.input, ensure_ascii=False, sort_keys=False)[:200]}")
        print("  assertions:")
        for assertion in case.assertions:
            shown = (
                assertion
                if isinstance(assertion, str)
                else json.dumps(assertion.to_data(), ensure_ascii=False)
            )
            print(f"    - {shown}")
        if case.source is not None:
            parts = [f"trace {case.source.trace_id}"]
            if case.source.project:
                parts.append(f"project {case.source.project}")
            if case.source.captured_at:
                parts.append(f"captured {case.source.captured_at}")
            print(f"  source: {', '.join(parts)}")
        cassette = case.cassette_path(settings, suite.name)
        state = (
            "present"
            if cassette.is_file()
            else "missing (recorded on the first run with --flywheel-record=once)"
        )
        print(f"  cassette: {_relative(cassette, settings)} ({state})")
        if case.notes:
            print(f"  notes: {case.notes}")
    return 0


def _suite_json(loaded: LoadedSuite, settings: Settings) -> dict[str, Any]:
    data = loaded.suite.to_data()
    data["path"] = _relative(loaded.path, settings)
    for case, entry in zip(loaded.suite.cases, data.get("cases", []), strict=True):
        cassette = case.cassette_path(settings, loaded.suite.name)
        entry["line"] = loaded.line_of(case.id)
        entry["cassette_path"] = _relative(cassette, settings)
        entry["cassette_present"] = cassette.is_file()
    return data


def _validate(args: argparse.Namespace) -> int:
    from pytest_flywheel.suites.errors import SuiteFileError
    from pytest_flywheel.suites.loading import list_suite_paths, load_suite

    settings = _settings()
    paths: list[Path] = [_file_or_named_suite(path, settings) for path in args.paths]
    paths = paths or list_suite_paths(settings)
    if not paths:
        print(f"No suite files in {_relative(settings.suites_dir, settings)}: nothing to validate.")
        return 0
    problems = 0
    bad_files = 0
    duplicates = 0
    for path in paths:
        loaded = None
        try:
            loaded = load_suite(path)
            found = loaded.cassette_problems(settings)  # the cases' cassettes too
        except SuiteFileError as exc:
            found = [_name_hint(problem, path, settings) for problem in exc.problems]
        if found:
            bad_files += 1
            problems += len(found)
            for problem in found:
                print(safe_text(str(problem)))
            continue
        assert loaded is not None
        for line in near_duplicate_lines(loaded, settings):
            duplicates += 1
            print(safe_text(line))
    checked = f"{len(paths)} suite file{'s' if len(paths) != 1 else ''}"
    also = f" {duplicates} near-duplicate case{'s' if duplicates != 1 else ''} (warnings)." if duplicates else ""
    if problems:
        print(f"{problems} problem{'s' if problems != 1 else ''} in {bad_files} of {checked}.{also}")
        return 1
    print(f"{checked} valid.{also}")
    return 0


def _looks_like_a_name(path: Path) -> bool:
    return not path.exists() and len(path.parts) == 1 and not path.suffix


def _file_or_named_suite(path: Path, settings: Settings) -> Path:
    """``path``, or the file of the suite it names (as `suite add` and `suite show` take names)."""
    from pytest_flywheel.suites.loading import suite_path_for

    if _looks_like_a_name(path):
        named = suite_path_for(str(path), settings)
        if named.is_file():
            return named
    return path


def _name_hint(problem: SuiteProblem, path: Path, settings: Settings) -> SuiteProblem:
    from pytest_flywheel.suites.loading import list_suite_paths

    if problem.message != "no such file" or not _looks_like_a_name(path):
        return problem
    names = ", ".join(sorted(candidate.stem for candidate in list_suite_paths(settings))) or "none yet"
    hint = f"no such file, and no suite named {str(path)!r} (the suites are: {names})"
    return dataclasses.replace(problem, message=hint)


def near_duplicate_lines(loaded: LoadedSuite, settings: Settings) -> list[str]:
    """``path:line: cases[i]: warning: looks like case X (line N): why`` for each near-duplicate case."""
    import time

    from pytest_flywheel.evolve.duplicates import case_facts, near_duplicates
    from pytest_flywheel.suites.loading import display_path

    cases = loaded.suite.cases
    facts = case_facts(
        settings.store, [(c.id, c.input, c.source.trace_id if c.source else None) for c in cases], until=time.time()
    )
    index = {case.id: position for position, case in enumerate(cases)}
    where = display_path(loaded.path)
    return [
        f"{where}:{loaded.line_of(case.case_id)}: cases[{index[case.case_id]}]: warning: case {case.case_id!r} looks "
        f"like case {duplicate.case_id!r} (line {loaded.line_of(duplicate.case_id)}): {duplicate.why}"
        for case, duplicate in near_duplicates(facts)
    ]
