"""Trust: people's labels on verdicts, the judge's agreement with them, and what the plugin gates on.

For the pytest plugin (none of this imports pytest):

* :func:`labels_for` ``(keys, *, settings=None) -> {key: Label}``: people's labels on verdict keys; a
  label overrides the judge's verdict in the gate (``Label.passed``, ``Label.note``).
* :func:`agreement` ``(suite, *, settings=None, model=None) -> AgreementFigures``: the judge's figures on
  a suite's labelled verdicts; :func:`require_agreement` ``(suite, figures, *, minimum, min_labels)``
  raises :class:`JudgeAgreementError` (naming the suite and the figures) below the minimum.
* :func:`judge_votes` / :func:`is_split`: the judge repeats recorded with a verdict entry.

Files: ``flywheel/labels.jsonl`` (:class:`LabelFile`, :func:`save_labels`), read next to
``flywheel/verdicts.jsonl``. Budget gates live with the runs they compare:
:mod:`pytest_flywheel.runs.budget`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flywheel.trust.judge_agreement import (
        AgreementFigures,
        AgreementReport,
        JudgeAgreementError,
        SuiteAgreement,
        agreement,
        agreement_report,
        build_agreement,
        require_agreement,
    )
    from pytest_flywheel.trust.labels import (
        Label,
        LabelFile,
        LabelFileError,
        labels_for,
        labels_path,
        save_labels,
    )
    from pytest_flywheel.trust.review import is_split, judge_votes

_EXPORTS: dict[str, str] = {
    "AgreementFigures": "pytest_flywheel.trust.judge_agreement",
    "AgreementReport": "pytest_flywheel.trust.judge_agreement",
    "JudgeAgreementError": "pytest_flywheel.trust.judge_agreement",
    "SuiteAgreement": "pytest_flywheel.trust.judge_agreement",
    "agreement": "pytest_flywheel.trust.judge_agreement",
    "agreement_report": "pytest_flywheel.trust.judge_agreement",
    "build_agreement": "pytest_flywheel.trust.judge_agreement",
    "require_agreement": "pytest_flywheel.trust.judge_agreement",
    "Label": "pytest_flywheel.trust.labels",
    "LabelFile": "pytest_flywheel.trust.labels",
    "LabelFileError": "pytest_flywheel.trust.labels",
    "labels_for": "pytest_flywheel.trust.labels",
    "labels_path": "pytest_flywheel.trust.labels",
    "save_labels": "pytest_flywheel.trust.labels",
    "is_split": "pytest_flywheel.trust.review",
    "judge_votes": "pytest_flywheel.trust.review",
}

__all__ = [
    "AgreementFigures",
    "AgreementReport",
    "JudgeAgreementError",
    "Label",
    "LabelFile",
    "LabelFileError",
    "SuiteAgreement",
    "agreement",
    "agreement_report",
    "build_agreement",
    "is_split",
    "judge_votes",
    "labels_for",
    "labels_path",
    "require_agreement",
    "save_labels",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
