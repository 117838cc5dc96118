"""Hooks other plugins (and ``conftest.py`` files) implement to extend pytest-flywheel.

Registered by the plugin in ``pytest_addhooks`` (``pluginmanager.add_hookspecs(hookspecs)``); always
called with keyword arguments. Implement one in a ``conftest.py``::

    def pytest_flywheel_make_judge(config, settings):
        return MyJudge(model="my-model")       # anything satisfying pytest_flywheel.judge.Judge

Hook bodies are empty on purpose: the docstrings are the contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_flywheel.analysis.findings import Finding
    from pytest_flywheel.config import Settings
    from pytest_flywheel.judge.checks import CheckResult
    from pytest_flywheel.judge.types import Judge, Verdict
    from pytest_flywheel.store.records import TraceRecord
    from pytest_flywheel.store.tree import SpanTree


@pytest.hookspec(firstresult=True)
def pytest_flywheel_make_judge(config: pytest.Config, settings: Settings) -> Judge | None:
    """Return the judge that checks natural-language assertions, or None to leave it to others.

    The first non-None answer wins; with none, the built-in Anthropic judge is used
    (``settings.judge_model``, or ``--flywheel-judge-model``). The judge must satisfy
    ``pytest_flywheel.judge.Judge``: its ``backend``, ``model``, ``prompt_version`` and ``settings``
    go into every verdict's cache key, so a different backend never reuses another's verdicts.
    Subclass ``pytest_flywheel.judge.PooledJudge`` to get ``submit`` on a thread pool for free.
    Called once per session (per xdist worker), only when some assertion needs judging.
    """


@pytest.hookspec(firstresult=True)
def pytest_flywheel_redact(text: str) -> str | None:
    """Return ``text`` with anything secret replaced (e.g. by ``[REDACTED]``), or None to leave it as is.

    Applied to text pytest-flywheel writes to files (cassettes, suite files, verdict reasons, reports)
    on top of the built-in scrubbing (API keys, ``authorization``, ``x-api-key``, cookies, and the
    ``[tool.flywheel] redact`` regexes). The first non-None answer wins, so one implementation should
    handle all of a project's own secrets. Must be idempotent: it may see already redacted text.
    """


@pytest.hookspec(firstresult=True)
def pytest_flywheel_check(
    name: str, spec: dict[str, Any], output: Any, trajectory: list[dict[str, Any]]
) -> CheckResult | None:
    """Evaluate a deterministic check kind pytest-flywheel does not know, or return None.

    ``name`` is the check's key in the suite file (``{"my_check": ...}``), ``spec`` the whole mapping,
    ``output`` the agent's return value and ``trajectory`` its tool and LLM calls (see
    ``pytest_flywheel.judge.trajectory``). Return a ``pytest_flywheel.judge.checks.CheckResult``. When
    no implementation answers, the check is an error naming the known kinds.
    """


@pytest.hookspec
def pytest_flywheel_verdicts(item: pytest.Item, verdicts: list[Verdict]) -> None:
    """Called after the sentence assertions of ``item`` (a suite case or a marked test) were judged.

    ``verdicts`` are in the order of the item's sentence assertions, cached ones included
    (``verdict.cached``). For observing only (dashboards, custom reports); do not mutate them.
    """


@pytest.hookspec
def pytest_flywheel_failure_labels(
    trace: TraceRecord, tree: SpanTree, findings: list[Finding]
) -> list[str | dict[str, str]] | None:
    """Return your own failure labels for one failing trace, or None.

    Called by ``flywheel triage``, ``flywheel stats`` and ``flywheel candidates propose`` for every
    failed or negatively rated trace, after the built-in rules: ``trace`` is its summary, ``tree``
    its span tree (``pytest_flywheel.store.tree.SpanTree``) and ``findings`` the analysis rules'
    findings. Return label names (``lower_snake_case``), or ``{"name": ..., "evidence": ...}``
    mappings. Custom labels join the built-in ones in the cluster key, so a project can name the
    failures it knows (``"wrong_currency"``). The command looks for implementations in the project
    root's ``conftest.py``; every implementation's labels are kept.
    """
