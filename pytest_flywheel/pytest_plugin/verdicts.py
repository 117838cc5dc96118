"""The verdict file at the end of a session: which entries no run can use any more, and the one merge
and write (:meth:`pytest_flywheel.judge.cache.VerdictCache.write`).

An entry is **unused** when no assertion of this session asked for it and

* its case ran in this session (its verdicts are stale: the output, the trajectory or the assertion
  changed), or
* its case no longer exists: the file it was judged in is gone, its suite file no longer holds that
  case id, or its test file was collected whole in this session without that test.

Like syrupy's unused snapshots, unused entries are listed in the summary and removed by
``--flywheel-prune``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_flywheel.judge.cache import VerdictCache, VerdictEntry, WriteResult

#: Suite file suffixes.
SUITE_SUFFIXES = (".yaml", ".yml")


@dataclass
class CollectionRecord:
    """What this session collected, to tell a renamed or deleted test (filled by the plugin's hooks;
    on an xdist controller, which collects nothing itself, ``complete`` stays False)."""

    complete: bool = False
    nodeids: set[str] = field(default_factory=set)
    #: Files not collected whole: named with ``::`` on the command line, or failing to collect.
    partial_files: set[str] = field(default_factory=set)

    def add_items(self, nodeids: Iterable[str]) -> None:
        self.nodeids.update(nodeids)

    def whole_files(self) -> set[str]:
        return {nodeid.partition("::")[0] for nodeid in self.nodeids} - self.partial_files


def record_collection(collection: CollectionRecord, session: pytest.Session) -> None:
    """Remember what was collected (and which files were named with ``::``, so not collected whole)."""
    if not session.items and not collection.nodeids:
        return  # an xdist controller collects nothing itself: it cannot tell a renamed test
    collection.add_items(item.nodeid for item in session.items)
    rootpath = Path(session.config.rootpath)
    invocation = Path(session.config.invocation_params.dir)
    for argument in session.config.args:
        path, sep, _ = str(argument).partition("::")
        if not sep:
            continue
        try:
            relative = (invocation / path).resolve().relative_to(rootpath.resolve())
        except (ValueError, OSError):
            continue
        collection.partial_files.add(relative.as_posix())
    collection.complete = True


class CaseDirectory:
    """Answers "does the case a verdict was judged for still exist?" (``VerdictCache.unused_keys``'s
    ``gone``)."""

    def __init__(self, *, root: Path, suites_dir: Path, collection: CollectionRecord) -> None:
        self.root = root
        self.suites_dir = suites_dir.resolve()
        self.collection = collection
        self._whole = collection.whole_files() if collection.complete else set()
        self._suite_ids: dict[Path, set[str] | None] = {}

    def gone(self, label: str) -> bool:
        path, sep, rest = label.partition("::")
        if not sep or not path:
            return False
        file = self.root / path
        try:
            if not file.exists():
                return True
        except OSError:
            return False
        if file.suffix in SUITE_SUFFIXES and file.resolve().is_relative_to(self.suites_dir):
            ids = self._case_ids(file)
            return ids is not None and rest not in ids
        return path in self._whole and label not in self.collection.nodeids

    def _case_ids(self, file: Path) -> set[str] | None:
        if file not in self._suite_ids:
            from pytest_flywheel.errors import FlywheelError
            from pytest_flywheel.suites import load_suite

            try:
                suite = load_suite(file).suite
            except FlywheelError:
                self._suite_ids[file] = None  # a broken suite file: nothing can be said about its cases
            else:
                self._suite_ids[file] = {str(case.id) for case in suite.cases}
        return self._suite_ids[file]


@dataclass(frozen=True)
class VerdictSummary:
    """What the session did with the verdict file."""

    path: Path
    unused: tuple[VerdictEntry, ...] = ()
    written: WriteResult | None = None
    problems: tuple[str, ...] = ()

    @property
    def pruned(self) -> int:
        return len(self.written.pruned) if self.written is not None else 0


def finish_verdicts(
    cache: VerdictCache, *, ran_cases: list[str], cases: CaseDirectory, prune: bool
) -> VerdictSummary:
    """Find the unused entries, then merge and write the file when something changed (new verdicts,
    a pruning, or a file left unsorted by a killed session). A write that fails is a problem in the
    summary, never a failure of the tests."""
    from pytest_flywheel.judge.cache import VerdictCacheError

    assert cache.path is not None
    unused_keys = cache.unused_keys(ran_cases, gone=cases.gone)
    entries = cache.entries()
    unused = tuple(entries[key] for key in unused_keys)
    problems = list(cache.problems)
    if not (cache.new_entries or cache.needs_sorting or (prune and (unused_keys or cache.corrupt_lines))):
        return VerdictSummary(path=cache.path, unused=unused, problems=tuple(problems))
    try:
        written = cache.write(prune=unused_keys if prune else None)
    except VerdictCacheError as exc:
        problems.append(f"the verdict file was not written: {exc}")
        return VerdictSummary(path=cache.path, unused=unused, problems=tuple(problems))
    if prune:
        unused = ()
    return VerdictSummary(path=cache.path, unused=unused, written=written, problems=tuple(problems))
