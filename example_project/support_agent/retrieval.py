"""Keyword retrieval over the help center: BM25 over article titles and bodies, no ML, no index files."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

from pytest_flywheel import track
from support_agent.shop import Article, help_center

_STOPWORDS = frozenset(
    "a an and are as at be by can could do does for from get have how i i'd if in is it its like many me "
    "much my of on or our please so the this to was we what when where which who will with would you your "
    "yours".split()
)
_WORD = re.compile(r"[a-z0-9]+")
K1 = 1.4
B = 0.75
TITLE_WEIGHT = 2  # a word in the title counts as if it appeared twice in the body


def _stem(word: str) -> str:
    # Crude suffix stripping is enough for a 21-article help center: "refunds"/"refunded" -> "refund".
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]


@dataclass(frozen=True)
class _Index:
    docs: tuple[tuple[Article, Counter[str], int], ...]
    document_frequency: Counter[str]
    average_length: float


@cache
def _index() -> _Index:
    docs = []
    frequency: Counter[str] = Counter()
    for entry in help_center():
        terms = Counter(tokenize(entry.body))
        for word in tokenize(entry.title):
            terms[word] += TITLE_WEIGHT
        docs.append((entry, terms, sum(terms.values())))
        frequency.update(terms.keys())
    average = sum(length for _, _, length in docs) / len(docs)
    return _Index(tuple(docs), frequency, average)


def score(query: str) -> list[tuple[float, Article]]:
    """Every article with a BM25 score above zero for ``query``, best first (ties in file order)."""
    index = _index()
    total = len(index.docs)
    words = set(tokenize(query))
    scored = []
    for position, (entry, terms, length) in enumerate(index.docs):
        value = 0.0
        for word in words:
            count = terms.get(word, 0)
            if not count:
                continue
            df = index.document_frequency[word]
            idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
            value += idf * count * (K1 + 1) / (count + K1 * (1 - B + B * length / index.average_length))
        if value > 0:
            scored.append((value, position, entry))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [(value, entry) for value, _, entry in scored]


@track(type="retrieval")
def search_help_center(query: str, top_k: int = 3, min_score: float = 0.0) -> list[dict[str, Any]]:
    """The ``top_k`` best help-center articles for ``query`` as ``{id, title, body, score}``."""
    return [
        {"id": entry.id, "title": entry.title, "body": entry.body, "score": round(value, 3)}
        for value, entry in score(query)[:top_k]
        if value >= min_score
    ]
