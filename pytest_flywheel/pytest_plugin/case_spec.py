"""What a suite case item is to the rest of the plugin: a :class:`CaseSpec` in the item's stash.

The run-ahead pipeline finds the cases among the session's items by this key, so it needs neither the
item class nor the collector (which keeps the plugin's modules free of import cycles).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class CaseSpec:
    """One suite case, as the pipeline runs it."""

    nodeid: str
    case_id: str
    suite_name: str
    suite_path: Path
    #: The suite's ``target`` (``module:qualname``), or None when the suite file has none.
    target: str | None
    cassette: Path
    #: The model the suite file asks its judge to use (``judge: {model: ...}``), if any.
    judge_model: str | None
    case: Any  # the suite file's case model (``pytest_flywheel.suites.models.Case``)
    #: The suite file relative to the rootdir (as in the node id) and the case's line in it.
    file: str = ""
    line: int | None = None
    #: Runs of the case when it calls the model, and how many must pass (--flywheel-runs > the case's
    #: ``runs`` > the suite's; the threshold: the case's > the suite's > every run).
    runs: int = 1
    pass_threshold: int = 1
    #: Why the case's cassette may not be used (it resolves outside the flywheel folder): the case is
    #: an error with this message and never runs, while the suite's other cases do.
    cassette_problem: str | None = None


CASE_SPEC = pytest.StashKey[CaseSpec]()
#: The item xdist said this worker runs next (set by the plugin's ``pytest_runtest_protocol``).
NEXT_ITEM = pytest.StashKey["pytest.Item | None"]()


def case_spec(item: pytest.Item) -> CaseSpec | None:
    """The case ``item`` runs, or None when it is not a suite case."""
    return item.stash.get(CASE_SPEC, None)
