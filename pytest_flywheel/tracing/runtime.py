"""The process-wide tracing state: settings read once, the one writer, flushing at exit.

Settings are read on the first traced call (not at import), from ``load_settings()``: a broken
pyproject.toml costs a warning and the defaults, never the agent's call. The writer and its thread
are made on the first span that is to be stored.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flywheel.config import Settings, load_settings
from pytest_flywheel.tracing.writer import SpanWriter, _warn

if TYPE_CHECKING:
    from pytest_flywheel.tracing.otlp_export import OTLPExport

EXIT_FLUSH_SECONDS = 2.0  # the default; [tool.flywheel] exit_flush_seconds / FLYWHEEL_EXIT_FLUSH


def inside_pytest_session() -> bool:
    """Whether this process is a pytest session with pytest-flywheel's plugin loaded.

    Spans made there (a unit test calling a traced function, an agent imported by a test) stay out of
    the store unless ``trace_tests`` is on, so that test runs never mix with production traces; the
    plugin's own collectors still see the spans of the cases it runs.
    """
    return "pytest_flywheel.plugin" in sys.modules and "_pytest.main" in sys.modules


class TracingRuntime:
    """Holds what every traced call shares. One instance: :data:`RUNTIME`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: None until the first traced call reads the settings
        self.enabled: bool | None = None
        self.settings: Settings | None = None
        self.writer: SpanWriter | None = None
        #: the OTLP exporter (``export = "otlp"``), made when the settings are read
        self.exporter: OTLPExport | None = None
        self._exit_hooks_registered = False

    def is_on(self) -> bool:
        """Whether tracing is on; the first call reads the settings."""
        enabled = self.enabled
        return self.resolve() if enabled is None else enabled

    def resolve(self) -> bool:
        """Read the settings (once) and return whether tracing is on."""
        with self.lock:
            if self.enabled is None:
                try:
                    self.settings = load_settings()
                except Exception as exc:
                    root = Path.cwd()
                    self.settings = Settings(root=root, store=root / ".flywheel" / "flywheel.db")
                    _warn(f"pytest-flywheel: tracing uses its defaults because the settings could not be "
                          f"read: {exc}")
                self.enabled = self.settings.tracing and (
                self.settings.trace_tests or not inside_pytest_session()
            )
                if self.enabled and self.settings.export == "otlp":
                    self.exporter = make_exporter(self.settings)
                    self._register_exit_hooks()
            return self.enabled

    @property
    def project(self) -> str:
        settings = self.settings
        return settings.project if settings is not None else "default"

    def get_writer(self) -> SpanWriter:
        writer = self.writer
        if writer is not None:
            return writer
        with self.lock:
            if self.writer is None:
                settings = self.settings or load_settings()
                self.writer = SpanWriter(
                    settings.store, queue_size=settings.queue_size,
                    max_payload_bytes=settings.max_payload_bytes, redact=settings.redact,
                )
                self._register_exit_hooks()
            return self.writer

    def _register_exit_hooks(self) -> None:
        if self._exit_hooks_registered:
            return
        self._exit_hooks_registered = True
        atexit.register(flush_at_exit)
        # A process started by multiprocessing's fork leaves through os._exit: atexit never runs
        # there, multiprocessing's own finalizers do.
        if "multiprocessing" in sys.modules:
            from multiprocessing import util

            util.Finalize(None, flush_at_exit, exitpriority=100)

    def reset(self, timeout: float) -> bool:
        """Write what is queued, stop the writer, forget the settings (the next call reads them again)."""
        with self.lock:
            writer, self.writer = self.writer, None
            exporter, self.exporter = self.exporter, None
            self.enabled = None
            self.settings = None
        if exporter is not None:
            exporter.shutdown()
        return writer.close(timeout) if writer is not None else True

    def after_fork_in_child(self) -> None:
        # The parent's writer thread does not exist here and its lock may be held: start afresh.
        # What the parent had queued is the parent's to write.
        self.lock = threading.Lock()
        self.writer = None
        self._exit_hooks_registered = False  # a forked child leaves by its own door: register again


def make_exporter(settings: Settings) -> OTLPExport | None:
    """The OTLP exporter, or None (with one warning) when the OpenTelemetry SDK cannot be used."""
    try:
        from pytest_flywheel.tracing.otlp_export import OTLPExport

        return OTLPExport(project=settings.project, max_payload_bytes=settings.max_payload_bytes)
    except Exception as exc:
        _warn(f"pytest-flywheel: export = \"otlp\" is set but spans cannot be exported ({type(exc).__name__}: "
              f"{exc}); install the OpenTelemetry SDK with pip install 'pytest-flywheel[otel]'. Tracing to the "
              "store goes on.")
        return None


class TracingFaults:
    """Exceptions tracing caught in itself (a span it could not close, a message it could not read),
    so that the traced code never saw them: counted, and warned about once per process."""

    def __init__(self) -> None:
        self.count = 0
        self.warned = False

    def caught(self, where: str, exc: BaseException) -> None:
        self.count += 1
        if not self.warned:
            self.warned = True
            _warn(
                f"pytest-flywheel: tracing lost data in {where} ({type(exc).__name__}: {exc}); the traced "
                "code was not affected. tracing_stats()['internal_errors'] counts such losses."
            )


RUNTIME = TracingRuntime()
FAULTS = TracingFaults()
os.register_at_fork(after_in_child=RUNTIME.after_fork_in_child)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every span finished so far is in the store (or given up on).

    Returns False when ``timeout`` seconds passed first. Called at interpreter exit too.
    """
    writer, exporter = RUNTIME.writer, RUNTIME.exporter
    try:
        written = writer.flush(timeout) if writer is not None else True
        return (exporter.flush(timeout) if exporter is not None else True) and written
    except Exception:
        return False


def flush_at_exit() -> None:
    """Write what is queued before the process ends, waiting at most ``exit_flush_seconds``; what could
    not be written in that time (a store locked by another process, a slow disk) is lost, and said so."""
    writer = RUNTIME.writer
    if writer is None:
        return
    settings = RUNTIME.settings
    timeout = settings.exit_flush_seconds if settings is not None else EXIT_FLUSH_SECONDS
    if flush(timeout):
        return
    lost = writer.unwritten
    if lost:
        why = f" (last error: {writer.last_error})" if writer.last_error else ""
        _warn(
            f"pytest-flywheel: {lost} spans could not be written to {writer.store_path} within "
            f"{timeout:g} s of exit and are lost{why}; the store may be locked by another process. "
            "Call pytest_flywheel.flush() before exiting, or raise FLYWHEEL_EXIT_FLUSH "
            "([tool.flywheel] exit_flush_seconds)."
        )


def reset_for_tests(timeout: float = 5.0) -> bool:
    """Flush and stop the writer and forget the settings, so the next span reads ``FLYWHEEL_STORE``,
    ``FLYWHEEL_TRACING`` and the rest again. For test suites that give each test its own store (the
    project's root conftest.py calls it before every test). Returns False when the flush timed out.
    """
    return RUNTIME.reset(timeout)


def tracing_stats() -> dict[str, int]:
    """Counts of the current writer, in spans (and feedback): ``written`` (committed to the store file
    the path names), ``dropped`` (queue full), ``failed`` (lost to store errors), ``pending`` (queued or
    being written), ``recreated`` (times the store file was found deleted or replaced and opened afresh);
    and ``internal_errors``, spans or fields lost to an exception inside tracing itself."""
    writer = RUNTIME.writer
    if writer is None:
        return {"written": 0, "dropped": 0, "failed": 0, "pending": 0, "recreated": 0,
                "internal_errors": FAULTS.count}
    return {"written": writer.written, "dropped": writer.dropped, "failed": writer.failed,
            "pending": writer.unwritten, "recreated": writer.recreated, "internal_errors": FAULTS.count}
