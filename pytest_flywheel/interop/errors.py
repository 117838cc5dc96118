"""The errors of the interop piece: input that cannot be imported or received."""

from __future__ import annotations

from pytest_flywheel.errors import FlywheelError


class InteropError(FlywheelError):
    """Traces that cannot be imported, received or exported, with what to do about it."""


class FormatError(InteropError, ValueError):
    """A file (or request body) that is not in the format it was taken for, or is cut short."""


class NotTraceDataError(FormatError):
    """A file that is no trace export at all (a file found in a folder of such is passed over)."""


class MissingExtraError(InteropError, ImportError):
    """An optional dependency (``pip install 'pytest-flywheel[otel]'``) is not installed."""


def require_proto() -> None:
    """Raise :class:`MissingExtraError` unless ``opentelemetry-proto`` can be imported."""
    try:
        import opentelemetry.proto.trace.v1.trace_pb2  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "OTLP protobuf needs the opentelemetry-proto package: pip install 'pytest-flywheel[otel]' "
            "(OTLP JSON needs nothing extra)"
        ) from None
