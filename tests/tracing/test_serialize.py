"""json_data(bounded=True): what a captured value becomes; bounded: the payload limit."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from pytest_flywheel.canonical import MAX_ITEMS, json_data
from pytest_flywheel.tracing.serialize import bounded, is_truncated


def json_safe(value: Any, **options: Any) -> Any:
    return json_data(value, bounded=True, **options)


class Color(enum.Enum):
    RED = "red"


@dataclass
class Order:
    id: str
    items: list[str]
    placed: dt.date


class Ticket(pydantic.BaseModel):
    subject: str
    priority: int = 3


def test_common_python_values_become_plain_json() -> None:
    value: dict[Any, Any] = {
        "order": Order("A-1", ["tea"], dt.date(2026, 11, 22)),
        "color": Color.RED,
        Color.RED: 1,
        2: "two",
        "when": dt.datetime(2026, 11, 22, 10, 30),
        "path": Path("/srv/data.csv"),
        "id": uuid.UUID(int=1),
        "tags": frozenset({"b", "a"}),
        "ratio": float("nan"),
        "ticket": Ticket(subject="refund"),
    }
    safe = json_safe(value)
    assert safe == {
        "order": {"id": "A-1", "items": ["tea"], "placed": "2026-11-22"},
        "color": "red",
        "red": 1,
        "2": "two",
        "when": "2026-11-22T10:30:00",
        "path": "/srv/data.csv",
        "id": "00000000-0000-0000-0000-000000000001",
        "tags": ["a", "b"],
        "ratio": "nan",
        "ticket": {"subject": "refund", "priority": 3},
    }
    json.dumps(safe, allow_nan=False)  # really JSON


def test_request_models_can_be_dumped_as_the_sdk_sends_them() -> None:
    assert json_safe(Ticket(subject="x"), exclude_unset=True) == {"subject": "x"}


def test_work_is_bounded_for_huge_and_deep_values() -> None:
    long_list = list(range(MAX_ITEMS + 5))
    assert json_safe(long_list)[-1] == {"__flywheel_truncated__": {"items_omitted": 5}}
    deep: Any = "bottom"
    for _ in range(100):
        deep = [deep]
    flat = json.dumps(json_safe(deep))
    assert "nested too deep" in flat
    wide = [[n] for n in range(20_000)]
    assert "too many values" in json.dumps(json_safe([wide[i:i + 500] for i in range(0, 20_000, 500)]))


def test_the_same_object_twice_is_not_a_cycle() -> None:
    shared = ["x"]
    assert json_safe({"a": shared, "b": shared}) == {"a": ["x"], "b": ["x"]}


def test_bounded_keeps_small_values_and_marks_big_ones() -> None:
    small = {"q": "hello"}
    assert bounded(small, 1000) is small
    big = {"q": "é" * 1000}  # 2 bytes a character in UTF-8: {"q":"..."} is 2,008 bytes
    marker = bounded(big, 1000)
    assert is_truncated(marker)
    assert marker["__flywheel_truncated__"] == {"bytes": 2008, "limit": 1000}
    assert len(json.dumps(marker, ensure_ascii=False).encode()) <= 1000
