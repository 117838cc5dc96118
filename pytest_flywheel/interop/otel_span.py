"""One OpenTelemetry span as both OTLP encodings (JSON and protobuf) decode to, before any mapping.

:class:`OtelSpan` is the neutral form the semantic-convention mapping (:mod:`.mapping`) reads; the
OTLP JSON decoding of attribute values and ids lives here too, because the file importer and the
receiver share it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.interop.errors import FormatError

#: OTLP's SpanKind and StatusCode numbers.
KIND_NAMES = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_HEX = re.compile(r"[0-9a-fA-F]+")
_KIND_NUMBERS = {f"SPAN_KIND_{name}": number for number, name in KIND_NAMES.items()}


@dataclass(slots=True)
class OtelEvent:
    """A span event (an exception, a GenAI message event)."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class OtelSpan:
    """A span as OTLP carries it. Ids are lowercase hex; ``resource`` is shared by a batch's spans."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    kind: int = 1
    events: list[OtelEvent] = field(default_factory=list)
    status_code: int = STATUS_UNSET
    status_message: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


# -- OTLP JSON ---------------------------------------------------------------------------------------


def hex_id(value: Any, *, size: int, what: str) -> str | None:
    """An OTLP/JSON trace or span id as lowercase hex (``size`` bytes), or None when empty.

    OTLP/JSON writes ids as hex; a few producers follow protobuf's JSON mapping and write base64
    instead, which is told apart by its length.
    """
    if value is None or value == "":
        return None
    if type(value) is str and len(value) == size * 2 and _HEX.fullmatch(value):  # the usual case, quickly
        lowered = value.lower()
        return None if lowered.strip("0") == "" else lowered
    if not isinstance(value, str):
        raise FormatError(f"{what} {value!r} is not a string of hex digits")
    text = value.strip()
    if len(text) == size * 2:
        try:
            int(text, 16)
        except ValueError:
            pass
        else:
            lowered = text.lower()
            return None if lowered.strip("0") == "" else lowered
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return None if not any(raw) else raw.hex()
    raise FormatError(f"{what} {value!r} is not {size * 2} hex digits")


def nanos(value: Any, *, what: str) -> int:
    """A ``...UnixNano`` field: OTLP/JSON writes uint64 as a decimal string, some producers as a number."""
    if isinstance(value, bool):
        raise FormatError(f"{what} {value!r} is not a number of nanoseconds")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, float) and value >= 0:
        return int(value)
    if value is None:
        return 0
    raise FormatError(f"{what} {value!r} is not a number of nanoseconds")


def json_value(value: Any) -> Any:
    """An OTLP/JSON ``AnyValue`` (``{"stringValue": ...}`` and kin) as a plain Python value."""
    if not isinstance(value, dict) or not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        number = value["intValue"]
        try:
            return int(number)
        except (TypeError, ValueError):
            return number
    if "doubleValue" in value:
        double = value["doubleValue"]
        if isinstance(double, str):  # "NaN", "Infinity" in protobuf's JSON mapping
            try:
                return float(double)
            except ValueError:
                return double
        return double
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        items = (value["arrayValue"] or {}).get("values") or []
        return [json_value(item) for item in items]
    if "kvlistValue" in value:
        pairs = (value["kvlistValue"] or {}).get("values") or []
        return json_attributes(pairs)
    if "bytesValue" in value:
        return {"bytes_base64": value["bytesValue"]}
    # protobuf's JSON mapping also allows the snake_case field names
    for snake, camel in (("string_value", "stringValue"), ("int_value", "intValue"),
                         ("double_value", "doubleValue"), ("bool_value", "boolValue"),
                         ("array_value", "arrayValue"), ("kvlist_value", "kvlistValue")):
        if snake in value:
            return json_value({camel: value[snake]})
    return None


def json_attributes(pairs: Any) -> dict[str, Any]:
    """A list of OTLP/JSON ``KeyValue`` objects as a dict (a later duplicate key wins)."""
    attributes: dict[str, Any] = {}
    if not isinstance(pairs, list):
        return attributes
    for pair in pairs:
        if type(pair) is dict:
            key = pair.get("key")
            if type(key) is str:
                value = pair.get("value")
                if type(value) is dict and "stringValue" in value:  # most attributes: no call needed
                    attributes[key] = value["stringValue"]
                else:
                    attributes[key] = json_value(value)
    return attributes


def status_code(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _STATUS_NAMES.get(value, STATUS_UNSET)
    return STATUS_UNSET


def kind_number(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _KIND_NUMBERS.get(value, 1)
    return 1
