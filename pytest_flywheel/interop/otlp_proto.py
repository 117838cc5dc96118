"""OTLP protobuf: ``TracesData`` / ``ExportTraceServiceRequest`` bytes decoded into :class:`OtelSpan`.

Decoding uses the specification's own generated classes from ``opentelemetry-proto`` (the ``[otel]``
extra), imported only when protobuf is actually met. The Collector's file exporter with
``format: proto`` writes each message preceded by its length as a 4-byte big-endian number;
:func:`framed_messages` reads that framing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from pytest_flywheel.interop.errors import FormatError, require_proto
from pytest_flywheel.interop.otel_span import OtelEvent, OtelSpan

#: A length prefix above this is taken for a file that is not length-prefixed protobuf.
MAX_MESSAGE_BYTES = 1 << 30


def _any_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {pair.key: _any_value(pair.value) for pair in value.kvlist_value.values}
    if which == "bytes_value":
        import base64

        return {"bytes_base64": base64.b64encode(value.bytes_value).decode("ascii")}
    return getattr(value, which)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _any_value(pair.value) for pair in pairs}


def parse_request(data: bytes, *, where: str) -> Any:
    """``data`` parsed as an ``ExportTraceServiceRequest`` (the same wire layout as ``TracesData``)."""
    require_proto()
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FormatError(f"{where}: not an OTLP protobuf trace message ({exc})") from None
    return message


def decode_request(message: Any) -> Iterator[OtelSpan]:
    """The spans of a parsed ``ExportTraceServiceRequest`` (spans without ids are left out)."""
    for resource_spans in message.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    continue
                parent = span.parent_span_id.hex() if len(span.parent_span_id) == 8 else None
                yield OtelSpan(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=None if parent is None or parent == "0" * 16 else parent,
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=max(span.end_time_unix_nano, span.start_time_unix_nano),
                    attributes=_attributes(span.attributes),
                    kind=span.kind,
                    events=[OtelEvent(event.name, event.time_unix_nano, _attributes(event.attributes))
                            for event in span.events],
                    status_code=span.status.code,
                    status_message=span.status.message,
                    resource=resource,
                    scope=scope,
                )


def count_unreadable(message: Any) -> int:
    """Spans of ``message`` that :func:`decode_request` leaves out (ids of the wrong length)."""
    return sum(
        1
        for resource_spans in message.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
        if len(span.trace_id) != 16 or len(span.span_id) != 8
    )


def check_framing(stream: IO[bytes], *, where: str) -> int:
    """Walk the length prefixes of a length-prefixed file to its end; the number of messages.

    A prefix that runs past the end of the file (a file cut short) or an absurd length (not such a
    file) is a :class:`FormatError` raised before anything is imported.
    """
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    offset = count = 0
    while offset < size:
        head = stream.read(4)
        if len(head) < 4:
            raise FormatError(f"{where}: cut short at byte {offset} (an incomplete length prefix); "
                              "nothing was imported from it")
        length = int.from_bytes(head, "big")
        if length > MAX_MESSAGE_BYTES or (count == 0 and 4 + length > size):
            raise FormatError(f"{where}: byte {offset} does not start a length-prefixed OTLP protobuf message")
        if offset + 4 + length > size:
            raise FormatError(
                f"{where}: cut short: message {count + 1} at byte {offset} needs {length} bytes but the file "
                f"ends after {size - offset - 4}; nothing was imported from it"
            )
        offset += 4 + length
        stream.seek(offset)
        count += 1
    stream.seek(0)
    return count


def framed_messages(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(message number, bytes) of each length-prefixed message, one at a time."""
    number = 0
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return
        number += 1
        yield number, stream.read(int.from_bytes(head, "big"))
