"""Suite files as pytest collectors: each case of ``flywheel/suites/<suite>.yaml`` becomes a
:class:`~pytest_flywheel.pytest_plugin.items.CaseItem` with node id
``flywheel/suites/<suite>.yaml::<case-id>``.

The suites folder is usually not under ``testpaths``, so :func:`select_suites` adds each selected suite
file to the session's collection arguments; pytest then walks to it like any file named on the command
line, which keeps ``-k``, ``-m``, ``--deselect``, ``--lf`` and node-id arguments working unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.case_spec import CaseSpec
from pytest_flywheel.pytest_plugin.items import CaseItem
from pytest_flywheel.pytest_plugin.options import ALL_SUITES
from pytest_flywheel.pytest_plugin.session import FlywheelSession, get_session

if TYPE_CHECKING:
    from pytest_flywheel.suites import LoadedSuite

#: Characters a tag may hold to become a marker name (``-m`` needs an identifier).
_MARKER_UNSAFE = re.compile(r"[^0-9A-Za-z_]")


def select_suites(flywheel: FlywheelSession) -> None:
    """Resolve ``--flywheel-suite`` names to files and add them to what pytest collects."""
    from pytest_flywheel.config import ConfigError
    from pytest_flywheel.suites import find_suite_path, list_suite_paths

    try:
        settings = flywheel.settings
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    names = flywheel.options.suites
    paths: dict[Path, str] = {}
    if ALL_SUITES in names:
        found = list(list_suite_paths(settings))
        if not found:
            raise pytest.UsageError(
                f"--flywheel-suite all: no suite files in {settings.suites_dir}; "
                "create one with `flywheel suite add` or check [tool.flywheel] dir"
            )
        for path in found:
            paths[Path(path).resolve()] = Path(path).stem
    for name in names:
        if name == ALL_SUITES:
            continue
        try:
            path = Path(find_suite_path(name, settings))
        except FlywheelError as exc:  # its message names the suites there are
            raise pytest.UsageError(f"--flywheel-suite {name}: {exc}") from None
        if not path.is_file():
            raise pytest.UsageError(f"--flywheel-suite {name}: there is no suite file {path}")
        paths[path.resolve()] = name
    flywheel.suite_paths = paths
    args = flywheel.config.args
    invocation = Path(flywheel.config.invocation_params.dir)
    named = [(invocation / arg.partition("::")[0]).resolve() for arg in args]
    for path in paths:
        # Named already (as a file, a node id or a folder holding it), pytest collects it there. (pytest 8
        # collects only the file when a folder and a file inside it are both arguments: adding the
        # file would lose the rest of the folder.)
        if not any(path == found or path.is_relative_to(found) for found in named):
            args.append(str(path))


def require_judge_agreement(flywheel: FlywheelSession) -> None:
    """``--flywheel-min-agreement``: refuse to gate a selected suite on a judge that agrees with
    people's labels less than the minimum, or whose agreement rests on too few labels."""
    from pytest_flywheel.trust import JudgeAgreementError, agreement, require_agreement

    minimum = flywheel.options.min_agreement
    assert minimum is not None
    for suite in sorted(set(flywheel.suite_paths.values())):
        try:
            require_agreement(
                suite,
                agreement(suite, settings=flywheel.settings),
                minimum=minimum,
                min_labels=flywheel.options.min_labels,
            )
        except JudgeAgreementError as exc:
            raise pytest.UsageError(f"--flywheel-min-agreement {minimum:g}: {exc}") from None


def shard_items(items: list[pytest.Item], shard: tuple[int, int]) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """``(kept, dropped)``: the items of share ``I`` of ``N`` (``shard = (I, N)``), chosen by a hash of
    each node id, so every job of a split run agrees without talking to the others."""
    import hashlib

    index, count = shard
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        digest = hashlib.sha256(item.nodeid.encode("utf-8", "surrogatepass")).digest()
        (kept if int.from_bytes(digest[:8], "big") % count == index - 1 else dropped).append(item)
    return kept, dropped


def tag_marker_name(tag: str) -> str:
    """The marker a case tag becomes: ``needs-refund`` -> ``needs_refund``."""
    name = _MARKER_UNSAFE.sub("_", tag.strip())
    return name if name and not name[0].isdigit() else f"tag_{name}"


class SuiteFile(pytest.File):
    """One suite file; collecting it loads and validates the file and yields one item per case."""

    def collect(self) -> Iterator[CaseItem]:
        from pytest_flywheel.suites import load_suite

        try:
            loaded: LoadedSuite = load_suite(self.path)
        except FlywheelError as exc:
            raise SuiteCollectionError(str(exc)) from None
        suite = loaded.suite
        flywheel = get_session(self.config)
        registered = flywheel.registered_markers
        settings = flywheel.settings
        judge = getattr(suite, "judge", None)
        model = judge.get("model") if isinstance(judge, dict) else getattr(judge, "model", None)
        for case in suite.cases:
            tags = [str(tag) for tag in (case.tags or [])]
            case_id = str(case.id)
            line = _line_of(loaded, case_id)
            runs = flywheel.options.runs or case.runs or suite.runs or 1
            cassette_problem: str | None = None
            try:
                cassette = Path(case.cassette_path(settings, str(suite.name)))
            except FlywheelError as exc:  # a cassette that leads out of the flywheel folder: this case's error
                cassette, cassette_problem = settings.cassettes_dir / str(suite.name) / f"{case_id}.yaml", str(exc)
            threshold = min(case.pass_threshold or suite.pass_threshold or runs, runs)
            spec = CaseSpec(
                nodeid=f"{self.nodeid}::{case_id}",
                case_id=case_id,
                suite_name=str(suite.name),
                suite_path=self.path,
                target=str(suite.target) if suite.target else None,
                cassette=cassette,
                judge_model=str(model) if model else None,
                case=case,
                file=self.nodeid,
                line=line,
                runs=runs,
                pass_threshold=threshold,
                cassette_problem=cassette_problem,
            )
            item = CaseItem.from_parent(self, name=case_id, spec=spec, line=line)
            for tag in tags:
                marker = tag_marker_name(tag)
                # Registered before use (once), so that --strict-markers accepts tags nobody declared.
                if marker not in registered:
                    registered.add(marker)
                    self.config.addinivalue_line("markers", f"{marker}: flywheel case tag '{tag}'")
                item.add_marker(marker)
            item.extra_keyword_matches.update(tags)  # -k matches the tags as written, too
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, SuiteCollectionError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class SuiteCollectionError(Exception):
    """A suite file that cannot be loaded; its message is ``path:line: field: what is wrong``."""


def _line_of(loaded: LoadedSuite, case_id: str) -> int | None:
    try:
        line = loaded.line_of(case_id)
    except (KeyError, LookupError):
        return None
    return int(line) if line is not None else None
