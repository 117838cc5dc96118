"""Text views of span payloads: the words a JSON value holds, and how much two texts share.

Used by the grounding rule (answer vs retrieved context) and by ``--compare auto`` (input
similarity). Deliberately simple and explainable: lower-cased word tokens of three or more
characters, minus a short list of English function words.
"""

from __future__ import annotations

import json
import re
from typing import Any

_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)

STOPWORDS: frozenset[str] = frozenset(
    """
    the and for are but not you your yours with this that these those from have has had was were
    will would can could should may might must its it's our ours their theirs they them then than
    there here what which who whom whose when where why how all any each few more most other some
    such only own same too very just also into onto over under about above below again further
    once been being does did doing done him his her hers she himself herself itself ourselves
    yourself yourselves themselves let lets please thanks thank yes okay
    """.split()
)


def text_of(value: Any) -> str:
    """Every string (and number) inside a JSON value, joined by newlines; dict keys are left out.

    An Anthropic response's ``content`` blocks therefore read as their text and tool inputs.
    """
    parts: list[str] = []

    def walk(item: Any) -> None:
        if item is None or isinstance(item, bool):
            return
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, int | float):
            parts.append(str(item))
        elif isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list | tuple):
            for child in item:
                walk(child)
        else:
            parts.append(str(item))

    walk(value)
    return "\n".join(parts)


def content_tokens(text: str) -> set[str]:
    """The distinct content words of ``text`` (lower-cased, 3+ letters/digits, no stopwords)."""
    return {word for word in (w.lower() for w in _WORD.findall(text)) if word not in STOPWORDS}


_ANY_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)


def similarity_tokens(text: str) -> set[str]:
    """The distinct lower-cased words (2+ characters) of ``text``, function words included.

    For comparing two requests, where "where"/"how" carry the intent: unlike :func:`content_tokens`,
    nothing is dropped.
    """
    return {w.lower() for w in _ANY_WORD.findall(text)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Shared words over all words (intersection over union), 0.0 for two empty sets."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def short_json(value: Any, limit: int = 160) -> str:
    """A one-line JSON rendering of ``value``, cut to ``limit`` characters with an ellipsis."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def canonical_json(value: Any) -> str:
    """Sorted-key compact JSON: equal values give equal text (used to group identical arguments)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
