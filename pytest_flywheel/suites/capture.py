"""Capture: a trace from the store becomes the input, target and cassette of a test case.

:func:`read_trace_for_capture` reads the trace and checks that it can be replayed: its root span has a
code location that imports (``module:qualname``, not a function defined inside another one), and its
input is a mapping of parameter names to JSON values with nothing the tracer had to replace by a
marked repr or cut short. The input is redacted like everything else written to files.
:func:`write_cassette` then hands the spans to the replay piece's ``write_case_cassette``.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.canonical import REPR_KEY, TRUNCATED_KEY
from pytest_flywheel.config import Settings
from pytest_flywheel.store import SpanRecord, Store, StoreError, TraceRecord
from pytest_flywheel.suites.errors import CaptureError
from pytest_flywheel.suites.models import CaseSource

if TYPE_CHECKING:
    from pytest_flywheel.redaction import Redactor

# The markers the tracer leaves in place of values it could not keep (pytest_flywheel.tracing.serialize).
REPR_MARKER = REPR_KEY
TRUNCATED_MARKER = TRUNCATED_KEY
_MARKER_PREFIX = "__flywheel_"


@dataclass(frozen=True)
class CapturedTrace:
    """A trace ready to become a case: its replayable target, its redacted input and all its spans."""

    trace: TraceRecord
    root: SpanRecord
    spans: list[SpanRecord]
    target: str
    input: dict[str, Any]

    @property
    def llm_calls_to_record(self) -> int:
        """LLM calls whose whole request and response were not recorded (traces imported from
        OpenTelemetry GenAI attributes, Langfuse, Opik): the cassette cannot answer them, so the case's
        first run with a key records them. Calls made inside a tool are not counted (replay skips them)."""
        by_id = {span.id: span for span in self.spans}

        def inside_tool(span: SpanRecord) -> bool:
            seen: set[str] = set()
            parent = by_id.get(span.parent_id or "")
            while parent is not None and parent.id not in seen:
                if parent.type == "tool":
                    return True
                seen.add(parent.id)
                parent = by_id.get(parent.parent_id or "")
            return False

        return sum(
            1 for span in self.spans
            if span.type == "llm" and "imported" in span.metadata
            and not isinstance(span.metadata.get("anthropic"), dict) and not inside_tool(span)
        )

    @property
    def source(self) -> CaseSource:
        return CaseSource(
            trace_id=self.trace.id,
            project=self.trace.project,
            captured_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )


def resolve_trace(store: Store, trace_id: str) -> TraceRecord:
    """The trace with this id, or the one trace whose id starts with it."""
    trace = store.get_trace(trace_id)
    if trace is not None:
        return trace
    full_id = store.resolve_trace_id(trace_id) if trace_id else None
    if full_id is not None:
        found = store.get_trace(full_id)
        if found is not None:
            return found
    matches = len(store.ids_with_prefix("traces", "id", trace_id)) if trace_id else 0
    if matches > 1:
        raise CaptureError(
            f"trace id prefix {trace_id!r} matches {matches} traces in {store.path}; give more of the id "
            "(see `flywheel traces list`)"
        )
    raise CaptureError(
        f"no trace {trace_id!r} in the store {store.path}; find its id with `flywheel traces list` "
        "(or point FLYWHEEL_STORE at the store that holds it)"
    )


def read_trace_for_capture(settings: Settings, trace_id: str, *, redactor: Redactor) -> CapturedTrace:
    """Read a trace and check that it can be replayed; the input comes back redacted."""
    try:
        store = Store(settings.store, readonly=True)
    except StoreError as exc:
        raise CaptureError(f"cannot capture trace {trace_id!r}: {exc}") from None
    with store:
        trace = resolve_trace(store, trace_id)
        spans = store.get_spans(trace.id)
    roots = [span for span in spans if span.parent_id is None]
    if not roots:
        raise CaptureError(
            f"trace {trace.id} has no root span in {settings.store} (its spans may not have been flushed "
            "yet); call pytest_flywheel.flush() before the process exits, then try again"
        )
    root = min(roots, key=lambda span: span.start_time)
    target = check_target(root, root_dir=settings.root)
    case_input = check_replayable_input(root)
    check_arguments_fit(resolve_target(target, root_dir=settings.root), target, case_input, trace_id=trace.id)
    return CapturedTrace(trace=trace, root=root, spans=spans, target=target, input=redactor.value(case_input))


def check_arguments_fit(entrypoint: Any, target: str, arguments: dict[str, Any], *, trace_id: str) -> None:
    """The case will call ``entrypoint(**arguments)``: refuse now what would be a TypeError at every run
    (a method that needs ``self``, an argument the tracer was told to leave out, a renamed parameter)."""
    try:
        signature = inspect.signature(entrypoint)
    except (TypeError, ValueError):  # no signature to check (a builtin, a C extension)
        return
    try:
        signature.bind(**arguments)
    except TypeError as exc:
        hint = (
            "it is a method, and a case calls its target without an instance; trace a module-level function"
            if "self" in signature.parameters
            else "was an argument left out with @track(ignore_arguments=...), or the signature changed?"
        )
        raise CaptureError(
            f"trace {trace_id}: its input does not fit {target}{signature} ({exc}); {hint}"
        ) from None


def check_target(root: SpanRecord, *, root_dir: Path) -> str:
    """The root span's ``module:qualname``, checked to import from the project root."""
    target = root.location
    if target is None:
        imported = isinstance(root.metadata, dict) and "imported" in root.metadata
        hint = (
            "an imported trace takes it from its root span's code.namespace and code.function "
            "attributes (or trace the entrypoint with @track)"
            if imported
            else "trace the entrypoint with @track"
        )
        raise CaptureError(
            f"trace {root.trace_id}: its root span {root.name!r} records no code location, so a test "
            f"cannot call it again; {hint}"
        )
    module_name, _, qualname = target.partition(":")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise CaptureError(
            f"trace {root.trace_id}: its entrypoint {target} is defined inside another function, so a "
            "test cannot import it; move it to module level (or a class) and trace again"
        )
    if module_name == "__main__":
        raise CaptureError(
            f"trace {root.trace_id}: its entrypoint {target} lives in a script run as __main__, which a "
            "test cannot import; move it into a module and trace again"
        )
    resolve_target(target, root_dir=root_dir, trace_id=root.trace_id)
    return target


@contextmanager
def _project_on_path(root_dir: Path) -> Iterator[None]:
    entry = str(root_dir)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def resolve_target(target: str, *, root_dir: Path, trace_id: str | None = None) -> Any:
    """Import ``module:qualname`` with the project root on ``sys.path``; the object, or a CaptureError."""
    module_name, _, qualname = target.partition(":")
    whose = f"trace {trace_id}: its entrypoint" if trace_id else "the target"
    with _project_on_path(root_dir):
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception as exc:  # any failure while importing user code is the user's to see
            raise CaptureError(
                f"{whose} {target} cannot be imported from {root_dir}: importing {module_name} raised "
                f"{type(exc).__name__}: {exc}"
            ) from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CaptureError(
                f"{whose} {target} cannot be found: {module_name} has no {qualname} (renamed or moved "
                "since the trace was recorded?)"
            ) from None
    if not callable(obj):
        raise CaptureError(f"{whose} {target} is not callable (found {type(obj).__name__})")
    return obj


def check_replayable_input(root: SpanRecord) -> dict[str, Any]:
    """The root span's input, if it is a JSON-safe mapping of parameter names with no tracer markers."""
    value = root.input
    if not isinstance(value, dict):
        kind = "nothing" if value is None else type(value).__name__
        raise CaptureError(
            f"trace {root.trace_id}: its entrypoint's input is {kind}, not the arguments by parameter name, "
            "so the case cannot call it again (was the input captured? see @track(capture_input=...))"
        )
    problem = _unreplayable(value, "input")
    if problem is not None:
        raise CaptureError(f"trace {root.trace_id} cannot be replayed: {problem}")
    return value


def _unreplayable(value: Any, where: str) -> str | None:
    """What makes ``value`` unfit to call the entrypoint with again, or None."""
    if isinstance(value, dict):
        if REPR_MARKER in value:
            shown = str(value[REPR_MARKER])[:80]
            return (
                f"{where} was not JSON-serialisable when traced (stored as the repr {shown}); pass JSON "
                "values to the entrypoint, or leave the argument out with @track(ignore_arguments=[...])"
            )
        if TRUNCATED_MARKER in value:
            return (
                f"{where} was cut short when traced (over the payload limit); raise [tool.flywheel] "
                "max_payload_bytes and trace again"
            )
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a key that is not text: {key!r}"
            if key.startswith(_MARKER_PREFIX):
                return f"{where} holds the tracer's marker {key}, not a value that can be replayed"
            problem = _unreplayable(item, f"{where}.{key}")
            if problem is not None:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _unreplayable(item, f"{where}[{index}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}, which JSON cannot hold"
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"{where} is a {type(value).__name__}, not a JSON value"


def capture_trace(settings: Settings, trace_id: str, *, redactor: Redactor | None = None) -> CapturedTrace:
    """Read the trace ``trace_id`` (or a unique prefix) and check it can become a replayable case; with no
    ``redactor``, the project's (``build_redactor(settings)``). Write its cassette with :func:`write_cassette`."""
    if redactor is None:
        from pytest_flywheel.redaction import build_redactor

        redactor = build_redactor(settings)
    return read_trace_for_capture(settings, trace_id, redactor=redactor)


def write_cassette(captured: CapturedTrace, path: Path, *, redactor: Redactor) -> Path:
    """The trace's LLM and tool interactions as the case's cassette at ``path`` (via the replay piece)."""
    from pytest_flywheel.replay import write_case_cassette

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_case_cassette(captured.spans, path, redactor=redactor)
