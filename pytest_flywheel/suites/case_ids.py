"""Case ids that are stable and readable: derived from the input unless given.

``{"question": "Where is my order?"}`` → ``where-is-my-order-7f3a1c``: a slug of the input's most telling
text (the string value with the most words) and the start of a hash of the input's canonical JSON, so
two inputs that read alike still get different ids and the same input always gets the same one.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")  # (\Z: "$" would take "c1\n")
_SLUG_WORDS = 6
_SLUG_CHARS = 40
_HASH_CHARS = 6


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text as is: one spelling per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def input_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by ``-``, at most six words and forty characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words[:_SLUG_WORDS]:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > _SLUG_CHARS:
            break
        slug = candidate
    if not slug and words:
        slug = words[0][:_SLUG_CHARS]
    return slug


def derive_case_id(case_input: Any) -> str:
    """The default id of a case with this input: ``<slug>-<6 hex>``, or ``case-<6 hex>`` with no text."""
    texts = [text for text in _strings(case_input) if slugify(text)]
    # Most words first; among equals the first one met, so the choice follows the input's own order.
    best = max(texts, key=lambda text: len(re.findall(r"\w+", text)), default="")
    slug = slugify(best) or "case"
    return f"{slug}-{input_hash(case_input)[:_HASH_CHARS]}"


def is_valid_case_id(case_id: str) -> bool:
    return bool(CASE_ID_PATTERN.match(case_id)) and len(case_id) <= 100
