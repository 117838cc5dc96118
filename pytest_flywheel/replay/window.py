"""Two values side by side around where they differ: the words that changed, in context, aligned.

::

    here:     "…the support assistant of Acme. Always answer in French  and keep it short. If…"
    recorded: "…the support assistant of Acme. Always answer in English and keep it short. If…"
                                                        ^^^^^^^

The texts are cut to a window: a little shared context before the first difference, the differing
stretch (words diffed against each other, so a word that stayed in the middle of a changed sentence
is not marked), and shared context after it. Each piece is shown as inside a JSON string (a new line
is ``\\n``), so that one value is one line; what differs is padded to the same width on both lines
and marked under them.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Sequence

from pytest_flywheel.replay.closest import common_prefix, common_suffix

#: Shared context shown before and after the differing stretch, in characters.
CONTEXT = 32
#: How much of each side's differing stretch is shown, in characters.
STRETCH = 64
#: A word is not looked back into further than this (a run of letters is cut there).
_LONGEST_WORD = 24
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
LABELS = ("here", "recorded")
_LABEL_WIDTH = max(len(label) for label in LABELS) + 2


def _escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes (wide East Asian characters two, combining marks none)."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _snap_start(one: str, other: str, start: int) -> int:
    """The shared start ``start`` moved back so that the differing stretch begins with a whole word."""
    inside_word = (start < len(one) and one[start].isalnum()) or (
        start < len(other) and other[start].isalnum()
    )
    limit = max(0, start - _LONGEST_WORD)
    while start > limit and inside_word and one[start - 1].isalnum():
        start -= 1
    return start


def _snap_end(one: str, other: str, end: int, start: int) -> int:
    """The shared end's length ``end`` shortened so that the differing stretch ends with a whole word."""

    def at(text: str, back: int) -> str:  # the character ``back`` places before the shared end
        index = len(text) - end - back
        return text[index] if 0 <= index < len(text) else ""

    inside_word = at(one, 1).isalnum() or at(other, 1).isalnum()
    limit = max(0, end - _LONGEST_WORD)
    while end > limit and inside_word and at(one, 0).isalnum() and min(len(one), len(other)) - end > start:
        end -= 1
    return end


def _segments(one: str, other: str) -> list[tuple[str, str, bool]]:
    """``(piece here, piece recorded, differs)`` for two short stretches, diffed word by word."""
    mine, theirs = _TOKEN.findall(one), _TOKEN.findall(other)
    found: list[tuple[str, str, bool]] = []
    matcher = difflib.SequenceMatcher(None, mine, theirs, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = "".join(mine[i1:i2]), "".join(theirs[j1:j2])
        if tag == "equal" and left.strip() == "" and found and found[-1][2]:
            found[-1] = (found[-1][0] + left, found[-1][1] + right, True)  # a space between two changes
        else:
            found.append((left, right, tag != "equal"))
    merged: list[tuple[str, str, bool]] = []
    for piece in found:  # a change next to a change is one change
        if merged and merged[-1][2] and piece[2]:
            merged[-1] = (merged[-1][0] + piece[0], merged[-1][1] + piece[1], True)
        else:
            merged.append(piece)
    return merged


def _context_before(text: str, end: int) -> str:
    begin = max(0, end - CONTEXT)
    if begin > 0:
        space = text.find(" ", begin, end)
        begin = space + 1 if space >= 0 else begin
        return "…" + text[begin:end]
    return text[:end]


def _context_after(text: str, begin: int) -> str:
    end = min(len(text), begin + CONTEXT)
    if end < len(text):
        space = text.rfind(" ", begin, end)
        end = space if space > begin else end
        return text[begin:end] + "…"
    return text[begin:]


def side_by_side(live: str, recorded: str) -> list[str]:
    """Two lines, ``here:`` and ``recorded:``, each with its text as it is."""
    return [
        f"{label + ':':<{_LABEL_WIDTH}}{text}" for label, text in zip(LABELS, (live, recorded), strict=True)
    ]


def text_window(live: str, recorded: str) -> list[str]:
    """Three lines: ``here:``, ``recorded:`` and the marks under what differs (see the module).
    ``live`` and ``recorded`` are two different strings."""
    start = common_prefix(live, recorded)
    end = common_suffix(live, recorded, min(len(live), len(recorded)) - start)
    start = _snap_start(live, recorded, start)
    end = _snap_end(live, recorded, end, start)
    middle = (live[start : len(live) - end], recorded[start : len(recorded) - end])
    cut = any(len(part) > STRETCH for part in middle)
    shown = tuple(part[:STRETCH] for part in middle)
    pieces: list[tuple[str, str, bool]] = []
    before = _context_before(live, start)
    if before:
        pieces.append((before, before, False))
    segments = _segments(*shown)
    if cut and len(segments) > 2 and segments[-1][2]:
        # The stretches were cut at the same length, not at the same place: what differs after the
        # last shared words may be only where the cut fell. The "…" says that more follows.
        del segments[-1]
    pieces += segments
    if cut:
        pieces.append(("…", "…", False))
    else:
        after = _context_after(live, len(live) - end)
        if after:
            pieces.append((after, after, False))
    return _aligned(pieces)


def _aligned(pieces: Sequence[tuple[str, str, bool]]) -> list[str]:
    quote = '"'
    sides = [quote, quote]
    ends = [len(quote), len(quote)]  # where each side's own text ends (padding follows)
    marks = " " * len(quote)
    for left, right, differs in pieces:
        texts = (_escaped(left), _escaped(right))
        width = max(display_width(texts[0]), display_width(texts[1]), 1 if differs else 0)
        for number, text in enumerate(texts):
            sides[number] += text
            if text:
                ends[number] = len(sides[number])
            sides[number] += " " * (width - display_width(text))
        marks += ("^" if differs else " ") * width
    labelled = [
        f"{label + ':':<{_LABEL_WIDTH}}{side[:end]}{quote}"
        for label, side, end in zip(LABELS, sides, ends, strict=True)
    ]
    return [*labelled, " " * _LABEL_WIDTH + marks.rstrip()]
