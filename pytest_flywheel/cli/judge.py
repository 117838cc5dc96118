"""``flywheel judge agreement``: how far the judge agrees with people's labels, per suite and assertion."""

from __future__ import annotations

import argparse
import sys

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, print_json
from pytest_flywheel.config import load_settings
from pytest_flywheel.errors import FlywheelError

_TEXT_WIDTH = 64


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "judge",
        help="The judge measured against people's labels",
        description="Figures over the labelled verdicts (flywheel/labels.jsonl against flywheel/verdicts.jsonl).",
    )
    sub = parser.add_subparsers(dest="judge_command", metavar="ACTION", required=True)
    agreement = sub.add_parser(
        "agreement",
        help="Agreement, true-positive and true-negative rates, Cohen's kappa and the confusion matrix",
        description="Per suite and per assertion, on labelled verdicts: agreement, true-positive rate (of "
        "the replies people passed, the share the judge passed), true-negative rate (of those people "
        "failed, the share the judge failed), Cohen's kappa, the confusion matrix and the label count. "
        "Exit 1 when no label matches.",
    )
    agreement.add_argument("--suite", type=values.suite_name, metavar="SUITE", help="Only this suite")
    agreement.add_argument("--model", type=values.text, metavar="MODEL", help="Only verdicts this judge model gave")
    add_json_option(agreement, "Print the figures as JSON")
    agreement.set_defaults(func=run_agreement)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _kappa(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def run_agreement(args: argparse.Namespace) -> int:
    from pytest_flywheel.trust.judge_agreement import AgreementFigures, agreement_report

    settings = load_settings()
    report = agreement_report(settings, suite=args.suite, model=args.model)
    for problem in report.verdict_problems:
        print(f"flywheel: warning: {problem}", file=sys.stderr)
    if not report.suites:
        where = f" for suite {args.suite!r}" if args.suite else ""
        model = f" on verdicts of {args.model}" if args.model else ""
        raise FlywheelError(
            f"no labelled verdict{where}{model} in {report.labels_path}: label some with "
            "`flywheel verdicts review` (or `flywheel verdicts label CASE INDEX pass|fail`)."
        )
    if args.json:
        print_json(report.to_json())
        return 0

    def row(name: str, figures: AgreementFigures, width: int) -> str:
        return (
            f"{_cut(name, width):<{width}} {figures.labels:>6}  {_percent(figures.agreement):>9}  "
            f"{_percent(figures.true_positive_rate):>6}  {_percent(figures.true_negative_rate):>6}  "
            f"{_kappa(figures.kappa):>5}"
        )

    header = f"{'LABELS':>6}  {'AGREEMENT':>9}  {'TPR':>6}  {'TNR':>6}  {'KAPPA':>5}"
    total = report.overall
    print(f"The judge against people's labels ({report.labels_path}): {total.labels} labels")
    print("TPR: of the replies people passed, the share the judge passed; TNR: of those they failed, the share it failed.")
    for suite in report.suites.values():
        figures = suite.figures
        print()
        print(f"{'SUITE':<{_TEXT_WIDTH + 2}} {header}")
        print(row(suite.suite, figures, _TEXT_WIDTH + 2))
        print("  confusion     person pass  person fail")
        print(f"    judge pass  {figures.tp:>11}  {figures.fp:>11}")
        print(f"    judge fail  {figures.fn:>11}  {figures.tn:>11}")
        print(f"  {'ASSERTION':<{_TEXT_WIDTH}} {header}")
        for text, item in suite.assertions.items():
            print("  " + row(text, item, _TEXT_WIDTH))
    if report.without_verdict:
        print()
        print(
            f"{len(report.without_verdict)} labels left out: their verdict is not in {settings.verdicts_path} "
            "and the label does not record it."
        )
    return 0
