"""The plugin's options, resolved once per session, and the session state kept in ``config.stash``.

Every option exists three ways, resolved with this precedence (highest first)::

    command line (--flywheel-*)  >  ini key (flywheel_* in pytest.ini / [tool.pytest.ini_options])
        >  [tool.flywheel] key in pyproject.toml (a FLYWHEEL_* variable overrides it, where config.py
           knows one)  >  the default

This module is imported on every pytest run, so it imports nothing heavier than the standard library
and pytest: the suites, replay and judge pieces are imported only once a flywheel feature is in use.
Options are plain data (:class:`FlywheelOptions`); the session's state lives in
:mod:`pytest_flywheel.pytest_plugin.session`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: ``--flywheel-suite`` value meaning every suite in ``<dir>/suites``.
ALL_SUITES = "all"
DEFAULT_RECORD_MODE = "none"

#: (option dest / pyproject key, ini key, command-line flag)
OPTION_NAMES: tuple[tuple[str, str, str], ...] = (
    ("suite", "flywheel_suite", "--flywheel-suite"),
    ("record", "flywheel_record", "--flywheel-record"),
    ("judge_model", "flywheel_judge_model", "--flywheel-judge-model"),
    ("update_verdicts", "flywheel_update_verdicts", "--flywheel-update-verdicts"),
    ("offline", "flywheel_offline", "--flywheel-offline"),
    ("prune", "flywheel_prune", "--flywheel-prune"),
    ("report", "flywheel_report", "--flywheel-report"),
    ("min_pass_rate", "flywheel_min_pass_rate", "--flywheel-min-pass-rate"),
    ("markdown", "flywheel_markdown", "--flywheel-markdown"),
    ("judge_repeats", "flywheel_judge_repeats", "--flywheel-judge-repeats"),
    ("min_agreement", "flywheel_min_agreement", "--flywheel-min-agreement"),
    ("min_labels", "flywheel_min_labels", "--flywheel-min-labels"),
    ("max_cost_increase", "flywheel_max_cost_increase", "--flywheel-max-cost-increase"),
    ("max_tokens_increase", "flywheel_max_tokens_increase", "--flywheel-max-tokens-increase"),
    ("max_latency_increase", "flywheel_max_latency_increase", "--flywheel-max-latency-increase"),
    ("shard", "flywheel_shard", "--flywheel-shard"),
    ("runs", "flywheel_runs", "--flywheel-runs"),
    ("live_tools", "flywheel_live_tools", "--flywheel-live-tools"),
)

#: ``--flywheel-min-labels``'s default: labels the judge's agreement must rest on to gate a run.
DEFAULT_MIN_LABELS = 10


def add_options(parser: pytest.Parser) -> None:
    """Register the ``flywheel`` option group and the matching ini keys."""
    group = parser.getgroup("flywheel", "pytest-flywheel: LLM agent regression suites")
    group.addoption(
        "--flywheel-suite",
        action="append",
        dest="flywheel_suite",
        metavar="NAME",
        default=None,
        help="Run the cases of the suite flywheel/suites/NAME.yaml (repeatable; 'all' runs every suite)",
    )
    group.addoption(
        "--flywheel-record",
        dest="flywheel_record",
        metavar="MODE",
        default=None,
        help="Cassette record mode: none (replay only, the default), once, new_episodes, all or rewrite",
    )
    group.addoption(
        "--flywheel-judge-model",
        dest="flywheel_judge_model",
        metavar="MODEL",
        default=None,
        help="Model the LLM judge uses (default: [tool.flywheel] judge_model, else claude-sonnet-5-5)",
    )
    group.addoption(
        "--flywheel-update-verdicts",
        dest="flywheel_update_verdicts",
        action="store_true",
        default=None,
        help="Judge every assertion again and overwrite its cached verdict",
    )
    group.addoption(
        "--flywheel-offline",
        dest="flywheel_offline",
        action="store_true",
        default=None,
        help="Make no judge calls: an assertion without a cached verdict is an error",
    )
    group.addoption(
        "--flywheel-prune",
        dest="flywheel_prune",
        action="store_true",
        default=None,
        help="Remove cached verdicts that no test of this run used",
    )
    group.addoption(
        "--flywheel-report",
        dest="flywheel_report",
        metavar="PATH",
        default=None,
        help="Write a JSON report of the suite results to PATH",
    )
    group.addoption(
        "--flywheel-markdown",
        dest="flywheel_markdown",
        metavar="PATH",
        default=None,
        help=(
            "Write a short Markdown summary to PATH (by default appended to $GITHUB_STEP_SUMMARY when "
            "that is set)"
        ),
    )
    group.addoption(
        "--flywheel-judge-repeats",
        dest="flywheel_judge_repeats",
        metavar="N",
        default=None,
        help=(
            "Ask the judge N times for each assertion judged (separate calls): the verdict is the majority, "
            "and an assertion whose answers split is reported flaky"
        ),
    )
    group.addoption(
        "--flywheel-min-agreement",
        dest="flywheel_min_agreement",
        metavar="F",
        default=None,
        help=(
            "Refuse to gate a suite on a judge whose agreement with people's labels (flywheel/labels.jsonl) "
            "is below F (a fraction from 0 to 1)"
        ),
    )
    group.addoption(
        "--flywheel-min-labels",
        dest="flywheel_min_labels",
        metavar="N",
        default=None,
        help=f"Labels the judge's agreement must rest on for --flywheel-min-agreement (default {DEFAULT_MIN_LABELS})",
    )
    for figure, meaning in (("cost", "LLM cost"), ("tokens", "LLM tokens"), ("latency", "latency")):
        group.addoption(
            f"--flywheel-max-{figure}-increase",
            dest=f"flywheel_max_{figure}_increase",
            metavar="PCT",
            default=None,
            help=(
                f"Fail the run when a case's {meaning} rose more than PCT (such as 20%) against the suite's "
                "previous recorded run"
            ),
        )
    group.addoption(
        "--flywheel-runs",
        dest="flywheel_runs",
        metavar="N",
        default=None,
        help=(
            "Run each case N times when it calls the model (record modes other than none) and pass it when "
            "its pass_threshold of runs pass (default: all)"
        ),
    )
    group.addoption(
        "--flywheel-live-tools",
        action="append",
        dest="flywheel_live_tools",
        metavar="TOOL",
        default=None,
        help=(
            "Run these @track(type=\"tool\") tools for real instead of replaying their recorded results "
            "(repeatable, or comma separated; 'all' for every tool), so a change to a tool's code shows"
        ),
    )
    group.addoption(
        "--flywheel-shard",
        dest="flywheel_shard",
        metavar="I/N",
        default=None,
        help=(
            "Run only the I-th of N deterministic shares of the collected tests (for CI jobs in parallel; "
            "merge their verdicts with `flywheel verdicts merge`)"
        ),
    )
    group.addoption(
        "--flywheel-min-pass-rate",
        dest="flywheel_min_pass_rate",
        metavar="F",
        default=None,
        help=(
            "Gate the run on each suite's pass rate F (a fraction from 0 to 1, e.g. 0.95): below it the run "
            "fails; at or above it failed cases are tolerated, errors and other failing tests are not"
        ),
    )
    parser.addini(
        "flywheel_suite", "Suites to run, as --flywheel-suite (space separated)", type="args", default=None
    )
    parser.addini("flywheel_record", "Cassette record mode, as --flywheel-record", default=None)
    parser.addini("flywheel_judge_model", "Model the LLM judge uses, as --flywheel-judge-model", default=None)
    parser.addini(
        "flywheel_update_verdicts", "Judge again and overwrite cached verdicts", type="bool", default=None
    )
    parser.addini("flywheel_offline", "Make no judge calls, as --flywheel-offline", type="bool", default=None)
    parser.addini(
        "flywheel_prune", "Remove unused cached verdicts, as --flywheel-prune", type="bool", default=None
    )
    parser.addini("flywheel_report", "Path of the JSON report, as --flywheel-report", default=None)
    parser.addini(
        "flywheel_min_pass_rate", "Minimum pass rate per suite, as --flywheel-min-pass-rate", default=None
    )
    parser.addini("flywheel_markdown", "Path of the Markdown summary, as --flywheel-markdown", default=None)
    parser.addini("flywheel_judge_repeats", "Judge answers per assertion, as --flywheel-judge-repeats", default=None)
    parser.addini("flywheel_min_agreement", "Minimum judge agreement, as --flywheel-min-agreement", default=None)
    parser.addini("flywheel_min_labels", "Labels the agreement must rest on, as --flywheel-min-labels", default=None)
    parser.addini("flywheel_shard", "This job's share of the tests, as --flywheel-shard", default=None)
    parser.addini("flywheel_runs", "Runs of each case that calls the model, as --flywheel-runs", default=None)
    parser.addini(
        "flywheel_live_tools", "Tools that run for real, as --flywheel-live-tools", type="args", default=None
    )
    for figure in ("cost", "tokens", "latency"):
        parser.addini(
            f"flywheel_max_{figure}_increase",
            f"Largest {figure} rise per case, as --flywheel-max-{figure}-increase",
            default=None,
        )


@dataclass(frozen=True)
class FlywheelOptions:
    """The resolved options of one session."""

    suites: tuple[str, ...] = ()
    record: str = DEFAULT_RECORD_MODE
    judge_model: str | None = None
    update_verdicts: bool = False
    offline: bool = False
    prune: bool = False
    report: Path | None = None
    min_pass_rate: float | None = None
    markdown: Path | None = None
    judge_repeats: int = 1
    min_agreement: float | None = None
    min_labels: int = DEFAULT_MIN_LABELS
    #: Largest rises of a case's figures against the suite's previous run, as fractions (0.2: 20%).
    max_cost_increase: float | None = None
    max_tokens_increase: float | None = None
    max_latency_increase: float | None = None
    #: (I, N): run only the I-th (1-based) of N shares.
    shard: tuple[int, int] | None = None
    #: Runs of each case that calls the model (None: the suite file's, else 1).
    runs: int | None = None
    #: ``@track(type="tool")`` tools that run for real instead of replaying (``all``: every tool).
    live_tools: tuple[str, ...] = ()

    @property
    def uses_suites(self) -> bool:
        return bool(self.suites)


def _as_flag(value: Any, *, source: str) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"1", "on", "true", "yes"}:
        return True
    if lowered in {"0", "off", "false", "no", ""}:
        return False
    raise pytest.UsageError(f"{source} = {value!r}: expected true or false")


def _as_suites(value: Any, *, source: str) -> tuple[str, ...]:
    return _as_names(value, source=source, what="suite names")


def _as_names(value: Any, *, source: str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        items = []
        for entry in value:
            if not isinstance(entry, str):
                raise pytest.UsageError(f"{source}: expected {what}, found {entry!r}")
            items.extend(entry.replace(",", " ").split())
    else:
        raise pytest.UsageError(f"{source} = {value!r}: expected {what}, as a string or a list")
    names: list[str] = []
    for name in items:
        if name not in names:
            names.append(name)
    return tuple(names)


def _as_pass_rate(value: Any, *, source: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if not 0.0 <= rate <= 1.0:  # NaN fails this too
        raise pytest.UsageError(
            f"{source} = {value!r}: expected a pass rate as a fraction from 0 to 1, such as 0.95 for 95%"
        )
    return rate


def _as_count(value: Any, *, source: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= 1000:
        raise pytest.UsageError(f"{source} = {value!r}: expected a whole number from 1 to 1000")
    return number


def _as_shard(value: Any, *, source: str) -> tuple[int, int]:
    index, sep, count = str(value).strip().partition("/")
    try:
        shard = (int(index), int(count)) if sep else (0, 0)
    except ValueError:
        shard = (0, 0)
    if not (1 <= shard[1] <= 10_000 and 1 <= shard[0] <= shard[1]):
        raise pytest.UsageError(f"{source} = {value!r}: expected I/N with 1 <= I <= N, such as 2/4")
    return shard


def _as_increase(value: Any, *, source: str) -> float:
    from pytest_flywheel.errors import FlywheelError
    from pytest_flywheel.runs.budget import parse_increase

    try:
        return parse_increase(str(value))
    except FlywheelError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None


def _as_model(value: Any, *, source: str) -> str | None:
    from pytest_flywheel.config import ConfigError, model_name

    try:
        return model_name(value, source=source) or None
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _pick(config: pytest.Config, dest: str, ini: str, flag: str, section: dict[str, Any]) -> tuple[Any, str]:
    """The value of one option and where it came from, by the precedence in the module docstring."""
    cli = config.getoption(ini, default=None)
    if cli is not None:
        return cli, flag
    try:
        from_ini = config.getini(ini)
    except ValueError:  # pragma: no cover - the key is always registered by add_options
        from_ini = None
    if from_ini is not None and from_ini != []:
        return from_ini, f"ini key {ini}"
    # judge_model's [tool.flywheel] key (and FLYWHEEL_JUDGE_MODEL) is read by config.py into
    # settings.judge_model, which ranks below a suite file's own judge model; see Judging.model_for.
    if dest in section and dest != "judge_model":
        return section[dest], f"[tool.flywheel] {dest}"
    return None, flag


def resolve_options(config: pytest.Config, pyproject_section: dict[str, Any]) -> FlywheelOptions:
    """Resolve every flywheel option; misuse is a :class:`pytest.UsageError` saying what to do."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for dest, ini, flag in OPTION_NAMES:
        raw, source = _pick(config, dest, ini, flag, pyproject_section)
        if raw is None:
            continue
        sources[dest] = source
        if dest == "suite":
            values["suites"] = _as_suites(raw, source=source)
        elif dest == "live_tools":
            values[dest] = _as_names(raw, source=source, what="tool names")
        elif dest in {"update_verdicts", "offline", "prune"}:
            values[dest] = _as_flag(raw, source=source)
        elif dest in ("min_pass_rate", "min_agreement"):
            values[dest] = _as_pass_rate(raw, source=source)
        elif dest in ("judge_repeats", "min_labels", "runs"):
            values[dest] = _as_count(raw, source=source)
        elif dest.startswith("max_") and dest.endswith("_increase"):
            values[dest] = _as_increase(raw, source=source)
        elif dest == "shard":
            values[dest] = _as_shard(raw, source=source)
        elif dest in ("report", "markdown"):
            values[dest] = Path(str(raw)).expanduser()
        elif dest == "record":
            values[dest] = str(raw).strip()
        elif dest == "judge_model":
            values[dest] = _as_model(raw, source=source)
        else:
            values[dest] = str(raw).strip() or None
    options = FlywheelOptions(**values)
    if options.record != DEFAULT_RECORD_MODE:
        from pytest_flywheel.replay import RECORD_MODES

        if options.record not in RECORD_MODES:
            raise pytest.UsageError(
                f"{sources.get('record', '--flywheel-record')} = {options.record!r} is not a record mode; "
                f"use one of {', '.join(RECORD_MODES)}"
            )
    if options.offline and options.update_verdicts:
        raise pytest.UsageError(
            "--flywheel-update-verdicts judges every assertion again, which --flywheel-offline forbids; "
            "drop one of the two"
        )
    return options
