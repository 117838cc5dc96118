"""How far the judge agrees with people: figures over labelled verdicts, per suite and per assertion.

Each label is paired with the judge's verdict on the same key: the one in ``verdicts.jsonl`` when the
file still holds it (a verdict judged again with ``--flywheel-update-verdicts`` counts as the judge's
current answer), otherwise the verdict the label recorded when it was given. "Positive" is *pass*:

* agreement: the share of labels the judge matched, ``(tp + tn) / n``;
* true-positive rate: of the replies people passed, the share the judge passed, ``tp / (tp + fn)``;
* true-negative rate: of the replies people failed, the share the judge failed, ``tn / (tn + fp)``;
  this is the one a gate lives by: a low one means the judge lets bad replies through;
* Cohen's kappa: agreement corrected for what two raters with these pass rates would reach by
  chance, ``(p_o - p_e) / (1 - p_e)``; undefined (None) when both raters gave one answer only.

A rate whose denominator is zero is None, never 0 or 1: no figure is made up from no labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings, load_settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.judge.cache import VerdictCache
from pytest_flywheel.trust.labels import Label, LabelFile, labels_path

#: Where labels on hand-written (marked) tests are counted, as in the plugin's report.
HAND_WRITTEN = "(hand-written tests)"


class JudgeAgreementError(FlywheelError):
    """The judge of a suite agrees with people too little (or on too few labels) to gate on."""


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class AgreementFigures:
    """The confusion matrix of judge against people, and the figures read off it.

    ``tp``: both passed; ``fp``: the judge passed what a person failed; ``fn``: the judge failed what
    a person passed; ``tn``: both failed.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[bool, bool]]) -> AgreementFigures:
        """From ``(judge_passed, person_passed)`` pairs."""
        counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
        for judge, person in pairs:
            counts[(bool(judge), bool(person))] += 1
        return cls(
            tp=counts[(True, True)], fp=counts[(True, False)], fn=counts[(False, True)], tn=counts[(False, False)]
        )

    @property
    def labels(self) -> int:
        """How many labels the figures rest on."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def agreement(self) -> float | None:
        return _ratio(self.tp + self.tn, self.labels)

    @property
    def true_positive_rate(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def true_negative_rate(self) -> float | None:
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def kappa(self) -> float | None:
        n = self.labels
        if not n:
            return None
        observed = (self.tp + self.tn) / n
        judge_pass, person_pass = (self.tp + self.fp) / n, (self.tp + self.fn) / n
        chance = judge_pass * person_pass + (1 - judge_pass) * (1 - person_pass)
        if chance >= 1.0:
            return None
        return (observed - chance) / (1 - chance)

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "agreement": self.agreement,
            "true_positive_rate": self.true_positive_rate,
            "true_negative_rate": self.true_negative_rate,
            "kappa": self.kappa,
            "confusion": {
                "judge_pass": {"person_pass": self.tp, "person_fail": self.fp},
                "judge_fail": {"person_pass": self.fn, "person_fail": self.tn},
            },
        }


@dataclass(frozen=True)
class LabelledVerdict:
    """A label with the judge's verdict it is compared with (``from_file``: found in verdicts.jsonl)."""

    label: Label
    judge_passed: bool
    judge_model: str | None
    from_file: bool

    @property
    def suite(self) -> str:
        return self.label.suite or HAND_WRITTEN


@dataclass(frozen=True)
class SuiteAgreement:
    """One suite's figures, and its figures per assertion text (in first-label order)."""

    suite: str
    figures: AgreementFigures
    assertions: dict[str, AgreementFigures]

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            **self.figures.to_json(),
            "assertions": [
                {"assertion": text, **figures.to_json()} for text, figures in self.assertions.items()
            ],
        }


@dataclass(frozen=True)
class AgreementReport:
    """Figures per suite over every usable label, and the labels that could not be used."""

    suites: dict[str, SuiteAgreement]
    #: Labels whose verdict is in neither verdicts.jsonl nor the label itself.
    without_verdict: tuple[Label, ...] = ()
    labels_path: Path | None = None
    verdict_problems: tuple[str, ...] = field(default=())

    @property
    def overall(self) -> AgreementFigures:
        total = AgreementFigures()
        for suite in self.suites.values():
            f = suite.figures
            total = AgreementFigures(tp=total.tp + f.tp, fp=total.fp + f.fp, fn=total.fn + f.fn, tn=total.tn + f.tn)
        return total

    def figures_for(self, suite: str) -> AgreementFigures:
        """A suite's figures; all zero (and every rate None) when it has no usable label."""
        found = self.suites.get(suite)
        return found.figures if found is not None else AgreementFigures()

    def to_json(self) -> dict[str, Any]:
        return {
            "labels_path": None if self.labels_path is None else str(self.labels_path),
            "overall": self.overall.to_json(),
            "suites": [suite.to_json() for suite in self.suites.values()],
            "without_verdict": [label.key for label in self.without_verdict],
        }


def pair_labels(
    labels: Iterable[Label], verdicts: VerdictCache, *, model: str | None = None
) -> tuple[list[LabelledVerdict], list[Label]]:
    """Each label with the judge's verdict on its key; and the labels that have none.

    ``model`` keeps only verdicts given by that judge model (as the verdict file names it).
    """
    paired: list[LabelledVerdict] = []
    missing: list[Label] = []
    for label in labels:
        entry = verdicts.get(label.key)
        if entry is not None:
            item = LabelledVerdict(label, entry.passed, entry.model, from_file=True)
        elif label.judge_passed is not None:
            item = LabelledVerdict(label, label.judge_passed, label.judge_model, from_file=False)
        else:
            missing.append(label)
            continue
        if model is None or item.judge_model == model:
            paired.append(item)
    return paired, missing


def build_agreement(
    labels: LabelFile, verdicts: VerdictCache, *, suite: str | None = None, model: str | None = None
) -> AgreementReport:
    """The figures per suite (only ``suite`` when given) and per assertion."""
    paired, missing = pair_labels(labels, verdicts, model=model)
    per_suite: dict[str, list[LabelledVerdict]] = {}
    for item in paired:
        if suite is None or item.suite == suite:
            per_suite.setdefault(item.suite, []).append(item)
    suites: dict[str, SuiteAgreement] = {}
    for name in sorted(per_suite, key=lambda name: (name == HAND_WRITTEN, name)):  # suites first
        items = per_suite[name]
        by_assertion: dict[str, list[tuple[bool, bool]]] = {}
        for item in items:
            by_assertion.setdefault(item.label.assertion, []).append((item.judge_passed, item.label.passed))
        suites[name] = SuiteAgreement(
            suite=name,
            figures=AgreementFigures.from_pairs((item.judge_passed, item.label.passed) for item in items),
            assertions={
                text: AgreementFigures.from_pairs(pairs) for text, pairs in sorted(by_assertion.items())
            },
        )
    return AgreementReport(
        suites=suites,
        without_verdict=tuple(label for label in missing if suite is None or (label.suite or HAND_WRITTEN) == suite),
        labels_path=labels.path,
        verdict_problems=tuple(verdicts.problems),
    )


def agreement_report(
    settings: Settings | None = None, *, suite: str | None = None, model: str | None = None
) -> AgreementReport:
    """Read ``labels.jsonl`` and ``verdicts.jsonl`` of the project and compute the figures."""
    settings = settings or load_settings()
    labels = LabelFile.load(labels_path(settings))
    verdicts = VerdictCache.load(settings.verdicts_path, warn=False, append=False)
    return build_agreement(labels, verdicts, suite=suite, model=model)


def agreement(suite: str, *, settings: Settings | None = None, model: str | None = None) -> AgreementFigures:
    """The judge's figures on ``suite``'s labelled verdicts (all zero when none is labelled)."""
    return agreement_report(settings, suite=suite, model=model).figures_for(suite)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def describe(figures: AgreementFigures) -> str:
    """One line: agreement, rates, kappa and the label count."""
    kappa = "n/a" if figures.kappa is None else f"{figures.kappa:.2f}"
    return (
        f"agreement {_percent(figures.agreement)}, true-positive rate {_percent(figures.true_positive_rate)}, "
        f"true-negative rate {_percent(figures.true_negative_rate)}, kappa {kappa}, "
        f"on {figures.labels} label{'s' if figures.labels != 1 else ''}"
    )


def require_agreement(suite: str, figures: AgreementFigures, *, minimum: float, min_labels: int = 1) -> None:
    """Raise :class:`JudgeAgreementError` unless the judge's agreement on ``suite`` is at least
    ``minimum`` (0 to 1) over at least ``min_labels`` labels. What ``--flywheel-min-agreement`` calls."""
    if figures.labels < max(1, min_labels):
        raise JudgeAgreementError(
            f"suite {suite!r}: the judge's agreement with people rests on {figures.labels} label"
            f"{'s' if figures.labels != 1 else ''}, fewer than the {max(1, min_labels)} required to gate on it; "
            f"label more verdicts with `flywheel verdicts review --suite {suite}`."
        )
    if figures.agreement is None or figures.agreement < minimum:
        raise JudgeAgreementError(
            f"suite {suite!r}: the judge agrees with people too little to gate on ({describe(figures)}; "
            f"the minimum is {minimum:.1%}). See `flywheel judge agreement --suite {suite}` for the "
            "assertions it gets wrong; fix their wording or the judge, or label more verdicts."
        )
