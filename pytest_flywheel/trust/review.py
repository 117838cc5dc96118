"""``flywheel verdicts review``: a person goes over the judge's verdicts and agrees or disagrees.

Each verdict is shown with what the judge saw (the case input, the output, a trajectory summary) and
what it answered; the person answers ``a`` (agree), ``d`` (disagree), ``s`` (skip) or ``q`` (quit),
optionally followed by a note. Every answer is written to ``labels.jsonl`` at once, so quitting,
closing the terminal or killing the process loses no answer already given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.judge.cache import VerdictCache, VerdictEntry
from pytest_flywheel.trust.display import block, cassette_lines, shown, trajectory_lines
from pytest_flywheel.trust.labels import (
    Label,
    LabelFile,
    LabelValueError,
    labels_path,
    require_text,
    save_labels,
)
from pytest_flywheel.trust.records import (
    RecordedAssertion,
    SuiteCase,
    recorded_assertions,
    suite_cases,
    suite_of_nodeid,
)


def judge_votes(entry: VerdictEntry) -> tuple[bool, ...] | None:
    """The separate answers of the judge's repeats recorded with a verdict, or None for one answer.

    Read from ``entry.votes`` (a sequence of booleans, one per repeat), which the verdict cache keeps
    when the judge answered an assertion several times (``--flywheel-judge-repeats``).
    """
    votes = getattr(entry, "votes", None)
    if not isinstance(votes, list | tuple) or not all(isinstance(vote, bool) for vote in votes):
        return None
    return tuple(votes)


def is_split(entry: VerdictEntry) -> bool:
    """Whether the judge's repeats on this verdict disagreed with each other (a flaky verdict)."""
    votes = judge_votes(entry)
    return votes is not None and len(set(votes)) > 1


@dataclass(frozen=True)
class ReviewItem:
    """A verdict to show, with what it was judged on."""

    entry: VerdictEntry
    recorded: RecordedAssertion
    suite: str | None
    case: SuiteCase | None
    label: Label | None

    @property
    def title(self) -> str:
        return f"{self.recorded.case_key} · assertion {self.recorded.index + 1} of {self.recorded.count}"


@dataclass
class Selection:
    """The verdicts chosen for a review, and why others were left out."""

    items: list[ReviewItem]
    considered: int = 0
    without_output: int = 0
    problems: list[str] = field(default_factory=list)


def select(
    settings: Settings,
    store_path: Path,
    *,
    suite: str | None = None,
    flaky: bool = False,
    disagreements: bool = False,
) -> Selection:
    """The verdicts to review, in suite file order: unlabelled ones by default; with ``disagreements``
    the labelled ones whose label contradicts the judge; with ``flaky`` only those whose judge repeats
    split. A verdict no recorded run holds the reply of cannot be judged by a person and is counted
    in ``without_output``."""
    verdicts = VerdictCache.load(settings.verdicts_path, warn=False, append=False)
    labels = LabelFile.load(labels_path(settings))
    cases, problems = suite_cases(settings)
    entries: list[VerdictEntry] = []
    # Every verdict in the file, in key order: those on earlier replies too (still this judge's answers).
    for key, entry in sorted(verdicts.entries().items()):
        label = labels.get(key)
        if disagreements != (label is not None and label.passed != entry.passed):
            continue
        if not disagreements and label is not None:
            continue
        if flaky and not is_split(entry):
            continue
        entries.append(entry)
    recorded = recorded_assertions(store_path, [entry.key for entry in entries])
    selection = Selection(items=[], problems=[*verdicts.problems, *problems])
    for entry in entries:
        found = recorded.get(entry.key)
        name = found.suite if found is not None else suite_of_nodeid(entry.case)[0]
        if suite is not None and name != suite:
            continue
        selection.considered += 1
        if found is None:
            selection.without_output += 1
            continue
        case = cases.get((found.suite, found.case_id)) if found.suite and found.case_id else None
        selection.items.append(ReviewItem(entry, found, found.suite, case, labels.get(entry.key)))
    selection.items.sort(
        key=lambda item: (
            item.suite is None,
            item.suite or "",
            item.case.order if item.case is not None else 0,
            item.recorded.nodeid,
            item.recorded.index,
        )
    )
    return selection


def render(item: ReviewItem, position: int, total: int, redact: Callable[[str], str]) -> str:
    """The text shown for one verdict."""
    entry, recorded = item.entry, item.recorded
    lines = [f"── [{position}/{total}] {item.title} ──"]
    if item.case is not None:
        lines += ["Input:", *block(item.case.input, 1000)]
    else:
        lines += ["Input: (a hand-written test: see its code)"]
    lines += [f"Output (run {recorded.run_id[:12]}):", *block(recorded.output)]
    if recorded.trajectory is not None:
        lines += ["Trajectory:", *trajectory_lines(recorded.trajectory)]
    elif item.case is not None:
        lines += [
            "Trajectory (not in the run record; the case's cassette, every episode it holds):",
            *cassette_lines(item.case.cassette),
        ]
    lines.append(f"Assertion: {entry.assertion}")
    verdict = "PASS" if entry.passed else "FAIL"
    lines.append(f"Judge: {verdict} ({entry.model or entry.backend}, confidence {entry.confidence:.2f}): {entry.reason}")
    votes = judge_votes(entry)
    if votes is not None and len(votes) > 1:
        lines.append(f"Judge repeats: {sum(votes)} pass / {len(votes) - sum(votes)} fail")
    if item.label is not None:
        said = "PASS" if item.label.passed else "FAIL"
        note = f": {item.label.note}" if item.label.note else ""
        lines.append(f"Labelled {said} by a person ({item.label.labelled_at or 'undated'}){note}")
    return shown(lines, redact)


PROMPT = "Agree with the judge? [a]gree / [d]isagree / [s]kip / [q]uit (a note may follow) > "
_ANSWERS = {
    "a": "agree", "agree": "agree", "y": "agree", "yes": "agree",
    "d": "disagree", "disagree": "disagree", "n": "disagree", "no": "disagree",
    "s": "skip", "skip": "skip",
    "q": "quit", "quit": "quit",
}


@dataclass
class ReviewSummary:
    agreed: int = 0
    disagreed: int = 0
    skipped: int = 0
    quit: bool = False
    labels: list[Label] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return self.agreed + self.disagreed


def label_from(item: ReviewItem, *, agree: bool, note: str) -> Label:
    """The label a person's answer on ``item`` makes."""
    entry = item.entry
    return Label(
        key=entry.key,
        passed=entry.passed if agree else not entry.passed,
        assertion=entry.assertion,
        judge_passed=entry.passed,
        judge_model=entry.model,
        suite=item.suite,
        case=entry.case or item.recorded.nodeid,
        note=note,
    )


def run_review(
    items: Sequence[ReviewItem],
    *,
    path: Path,
    ask: Callable[[str], str | None],
    out: TextIO,
    redact: Callable[[str], str],
) -> ReviewSummary:
    """Show each item and ask; each answer is saved to ``path`` before the next item is shown.

    ``ask(prompt)`` returns the person's line, or None when the input has ended (treated as quit).
    """
    summary = ReviewSummary()
    for position, item in enumerate(items, start=1):
        out.write(render(item, position, len(items), redact) + "\n")
        out.flush()
        while True:
            line = ask(PROMPT)
            if line is None:
                summary.quit = True
                return summary
            try:
                require_text(line, what="That answer")
            except LabelValueError as exc:
                out.write(f"  {exc}\n")
                continue
            word, _, note = line.strip().partition(" ")
            answer = _ANSWERS.get(word.lower())
            if answer is not None:
                break
            out.write("  Answer a, d, s or q (a note may follow, as in: d it invents a fee).\n")
        if answer == "quit":
            summary.quit = True
            return summary
        if answer == "skip":
            summary.skipped += 1
            continue
        label = label_from(item, agree=answer == "agree", note=redact(note.strip()))
        save_labels(path, [label])
        summary.labels.append(label)
        if answer == "agree":
            summary.agreed += 1
        else:
            summary.disagreed += 1
        said = "PASS" if label.passed else "FAIL"
        out.write(f"  Labelled {said}.\n\n")
    return summary


def nothing_to_review(selection: Selection, *, suite: str | None, flaky: bool, disagreements: bool) -> FlywheelError:
    """The error for an empty selection, saying why and what to do."""
    where = f" of suite {suite!r}" if suite else ""
    if selection.without_output:
        return FlywheelError(
            f"nothing to review{where}: {selection.without_output} verdicts match, but no recorded run holds "
            "the replies they were given on; run the suite (`pytest --flywheel-suite=NAME`) so that its "
            "run record keeps them, then review again."
        )
    if disagreements:
        return FlywheelError(f"nothing to review{where}: no label contradicts the judge's verdict.")
    if flaky:
        return FlywheelError(
            f"nothing to review{where}: no unlabelled verdict records judge repeats that split "
            "(repeats are recorded by `pytest --flywheel-judge-repeats N`)."
        )
    return FlywheelError(
        f"nothing to review{where}: every verdict is labelled, or there is none yet "
        "(see `flywheel judge agreement`, or review the disagreements with --disagreements)."
    )

