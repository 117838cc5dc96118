"""The one JSON conversion and canonical text (``pytest_flywheel.canonical``)."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydantic
import pytest

from pytest_flywheel.canonical import (
    REPR_KEY,
    UnstableValueError,
    canonical_json,
    json_data,
    sha256_key,
)

# A value of every kind whose order or spelling could depend on the process: sets of text (hash order
# changes with PYTHONHASHSEED), frozensets of tuples, floats, a dataclass, a pydantic model, an enum,
# non-ASCII text and dict keys that are not text.
VALUE_SCRIPT = '''
import dataclasses, enum, sys
import pydantic
sys.path.insert(0, {root!r})
from pytest_flywheel.canonical import sha256_key

class Size(enum.Enum):
    BIG = "big"

@dataclasses.dataclass
class Line:
    sku: str
    tags: set
    price: float

class Order(pydantic.BaseModel):
    id: str
    lines: list[Line]
    seen: frozenset[tuple[str, int]]

value = {{
    "order": Order(id="A-1", lines=[Line("tea", {{"green", "oolong", "sencha", "matcha"}}, 12.5)],
                   seen=frozenset({{("a", 1), ("b", 2), ("c", 3)}})),
    "words": {{"Grüße", "naïve", "日本茶", "chai", "☕"}},
    "pair": (1, 2.0, 1e-7, -0.0),
    "size": Size.BIG,
    1: "an int key",
    "nested": [{{"x", "y", "z"}}, {{3, 1, 2}}],
}}
print(sha256_key(value))
'''


def test_twenty_processes_with_different_hash_seeds_give_one_key() -> None:
    root = str(Path(__file__).resolve().parents[1])
    script = VALUE_SCRIPT.format(root=root)

    def key_with_seed(seed: int) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.strip()

    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = list(pool.map(key_with_seed, range(1, 21)))
    assert len(set(keys)) == 1, keys
    assert keys[0].startswith("sha256:") and len(keys[0]) == len("sha256:") + 64


def test_canonical_text_is_sorted_compact_utf8_and_the_key_hashes_it() -> None:
    text = canonical_json({"b": [1, 2.5], "a": "Grüße", "c": None})
    assert text == '{"a":"Grüße","b":[1,2.5],"c":null}'
    assert sha256_key({"c": None, "a": "Grüße", "b": [1, 2.5]}) == (
        "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


def test_values_json_cannot_hold_are_converted_the_same_way_on_the_fast_and_slow_paths() -> None:
    class Kind(enum.Enum):
        A = "a"

    @dataclasses.dataclass
    class Point:
        x: int
        y: float

    class Model(pydantic.BaseModel):
        name: str

    value = {
        "set": {3, 1, 2},
        "tuple": (1, "x"),
        "nan": float("nan"),
        "inf": float("-inf"),
        "enum": Kind.A,
        "point": Point(1, 2.5),
        "model": Model(name="n"),
        "keys": {1: "one", None: "none", 2.5: "half"},
    }
    assert json.loads(canonical_json(value)) == {
        "set": [1, 2, 3],
        "tuple": [1, "x"],
        "nan": "nan",
        "inf": "-inf",
        "enum": "a",
        "point": {"x": 1, "y": 2.5},
        "model": {"name": "n"},
        "keys": {"1": "one", "null": "none", "2.5": "half"},
    }
    # the same data, already plain, gives the same text through the C encoder alone
    assert canonical_json(json_data(value)) == canonical_json(value)


def test_a_repr_with_a_memory_address_is_an_error_that_says_where() -> None:
    class Opaque:
        pass

    with pytest.raises(UnstableValueError) as raised:
        canonical_json({"reply": "ok", "items": [1, Opaque()]}, where="the output")
    message = str(raised.value)
    assert 'the output["items"][1]' in message
    assert "object at 0x" in message
    assert "__repr__" in message


def test_a_marked_repr_without_an_address_is_stable_and_allowed() -> None:
    class Money:
        def __repr__(self) -> str:
            return "Money('12.50 EUR')"

    data = json_data({"total": Money()})
    assert data == {"total": {REPR_KEY: "Money('12.50 EUR')"}}
    assert canonical_json(data) == '{"total":{"__flywheel_repr__":"Money(\'12.50 EUR\')"}}'


def test_a_traced_marked_repr_with_an_address_is_caught_too() -> None:
    with pytest.raises(UnstableValueError):
        canonical_json([{"tool": "t", "result": {REPR_KEY: "<Cart object at 0x7f3a2b1c>"}}], where="the trajectory")


def test_cycles_are_cut_not_followed() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert json_data(loop) == [{REPR_KEY: "'<cycle: list>'"}]


def test_bounded_conversion_marks_what_it_leaves_out() -> None:
    assert json_data(list(range(5000)), bounded=True)[-1] == {"__flywheel_truncated__": {"items_omitted": 4000}}
    assert len(json_data(list(range(5000)))) == 5000  # unbounded: a key must see every item
