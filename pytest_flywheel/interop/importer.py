"""``flywheel import``: files, folders or standard input into the store, streamed and idempotent.

Each file is taken in three steps, so that bad input is refused before it is half imported:

1. its format is found (``--format auto`` reads the first bytes and the first JSON value);
2. it is read through once without writing: a file cut short, a line that is not JSON, a value of
   another format, a protobuf message that does not parse, refuses the whole file;
3. it is read again and written through a :class:`~pytest_flywheel.interop.sink.TraceSink`.

Standard input and gzip files are first copied (decompressed) to a temporary file, which is what lets
step 2 happen. Memory holds one JSON value or protobuf message (a Collector batch, an exported trace),
one batch of spans, and the ids of spans still waiting for their parent.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pytest_flywheel.interop import flywheel_store, langfuse, opik, otlp_proto
from pytest_flywheel.interop.errors import FormatError, NotTraceDataError
from pytest_flywheel.interop.jsonstream import check_complete, json_values
from pytest_flywheel.interop.mapping import MapOptions, span_record
from pytest_flywheel.interop.otlp_json import decode_traces_data, is_traces_data
from pytest_flywheel.interop.sink import ImportSummary, TraceSink
from pytest_flywheel.store import Store

FORMATS: tuple[str, ...] = ("auto", "otlp-json", "otlp-proto", "langfuse", "opik", "flywheel-store")
FILE_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".pb", ".binpb", ".proto", ".otlp", ".db", ".sqlite",
                           ".sqlite3", ".gz"})
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PROGRESS_SECONDS = 0.5

Progress = Callable[[ImportSummary, str], None]


@dataclass
class ImportResult:
    """The summary, and each file that was refused with why (nothing of it was imported)."""

    summary: ImportSummary
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: files found in folders that hold no trace data (an export's datasets, other files)
    passed_over: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)


def expand(paths: Sequence[str]) -> Iterator[tuple[str, bool]]:
    """(file, named): files named (and ``-``), and the files inside folders named (recursively, sorted)
    whose suffix a trace file may have."""
    for name in paths:
        if name == "-":
            yield name, True
            continue
        path = Path(name)
        if path.is_dir():
            for folder, folders, files in os.walk(path):
                folders[:] = sorted(f for f in folders if not f.startswith(".") and f != "attachments")
                for file in sorted(files):
                    if not file.startswith(".") and Path(file).suffix.lower() in FILE_SUFFIXES:
                        yield str(Path(folder) / file), False
        else:
            yield name, True


@contextmanager
def _opened(name: str) -> Iterator[tuple[IO[bytes], Path | None]]:
    """The file as a seekable binary stream (stdin and gzip spooled to a temporary file), and its path
    when it is a real, uncompressed file."""
    with ExitStack() as stack:
        if name == "-":
            spool = stack.enter_context(tempfile.TemporaryFile())
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            spool.seek(0)
            stream: IO[bytes] = spool
            real: Path | None = None
        else:
            try:
                if not stat.S_ISREG(os.stat(name).st_mode):  # never opened: a pipe waits, a device never ends
                    raise FormatError(f"{name}: not a regular file (a device, a pipe or a socket); to import "
                                      "from a stream, pipe it into `flywheel import -`")
                stream = stack.enter_context(open(name, "rb"))
            except OSError as exc:
                raise FormatError(f"{name}: cannot be read ({exc.strerror or exc})") from None
            real = Path(name)
        if stream.read(2) == GZIP_MAGIC:
            import gzip

            stream.seek(0)
            spool = stack.enter_context(tempfile.TemporaryFile())
            try:
                with gzip.open(stream) as unpacked:
                    shutil.copyfileobj(unpacked, spool, 1 << 20)
            except (OSError, EOFError) as exc:
                raise FormatError(f"{name}: a gzip file that cannot be read to its end ({exc}); nothing was "
                                  "imported from it") from None
            spool.seek(0)
            stream, real = spool, None
        stream.seek(0)
        yield stream, real


def _text(stream: IO[bytes]) -> io.TextIOWrapper:
    """A text view of ``stream``; ``detach()`` it afterwards, so closing the view leaves the file open."""
    stream.seek(0)
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline=None)


def sniff(stream: IO[bytes], *, where: str) -> str:
    """The format of a file, from its first bytes and, for JSON, its first value."""
    head = stream.read(64)
    stream.seek(0)
    if head.startswith(flywheel_store.SQLITE_MAGIC):
        return "flywheel-store"
    if head.startswith(ZSTD_MAGIC):
        raise FormatError(f"{where}: a zstd-compressed file; decompress it first (zstd -d FILE)")
    if not head.strip():
        raise NotTraceDataError(f"{where}: an empty file")
    if head.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] in (b"{", b"["):
        text = _text(stream)
        try:
            first = next(json_values(text, where=where), (0, None))[1]
        except UnicodeDecodeError:
            raise FormatError(f"{where}: not UTF-8 text, so not a JSON trace export") from None
        finally:
            text.detach()
            stream.seek(0)
        if is_traces_data(first):
            return "otlp-json"
        if langfuse.is_langfuse(first):
            return "langfuse"
        if opik.is_opik(first):
            return "opik"
        raise NotTraceDataError(
            f"{where}: JSON, but not a trace export flywheel import knows: expected OTLP/JSON "
            '({"resourceSpans": [...]}), a Langfuse trace ({"trace": ..., "observations": [...]}) or an Opik '
            'trace file ({"trace": ..., "spans": [...]}); name the format with --format'
        )
    return "otlp-proto"


class _Importer:
    def __init__(self, sink: TraceSink, options: MapOptions, progress: Progress | None, target: Path) -> None:
        self.sink = sink
        self.options = options
        self.progress = progress
        self.target = target
        self._last = 0.0

    def tick(self, where: str) -> None:
        if self.progress is not None and time.monotonic() - self._last >= PROGRESS_SECONDS:
            self._last = time.monotonic()
            self.progress(self.sink.summary, where)

    # -- the two passes ---------------------------------------------------------------------------

    def check(self, kind: str, stream: IO[bytes], where: str) -> None:
        """Before anything is written: a file cut short (its end, or its protobuf framing) is refused.
        Anything wrong further in is found while writing, and the file is then taken back whole."""
        if kind == "otlp-proto":
            with suppress(FormatError):
                otlp_proto.check_framing(stream, where=where)
            stream.seek(0)
            return
        check_complete(stream, where=where)

    def write(self, kind: str, stream: IO[bytes], where: str, real: Path | None) -> None:
        options = MapOptions(
            default_project=self.options.default_project, project=self.options.project,
            prices=self.options.prices, max_payload_bytes=self.options.max_payload_bytes, source=kind,
        )
        if kind == "flywheel-store":
            if real is None:
                raise FormatError(f"{where}: a store must be a file on disk (not standard input or gzip)")
            for stored, feedback in flywheel_store.traces(real, project=options.project, target=self.target):
                self._add(stored, feedback, where)
            return
        if kind == "otlp-proto":
            for message in self._proto_messages(stream, where):
                skipped = otlp_proto.count_unreadable(message)
                if skipped:
                    self.sink.summary.skip("a span whose trace or span id has the wrong length", skipped)
                self._spans(otlp_proto.decode_request(message), options, where)
            return
        text = _text(stream)
        try:
            values = json_values(text, where=where)
            if kind == "otlp-json":
                for line, document in values:
                    if not is_traces_data(document):
                        raise FormatError(f"{where}: line {line} is not OTLP/JSON data (the file was read as "
                                          "otlp-json)")
                    decoded = decode_traces_data(document, skip=self.sink.summary.skip, where=f"{where}:{line}")
                    self._spans(decoded, options, where)
            else:
                reader = langfuse.traces if kind == "langfuse" else opik.traces
                for spans, feedback in _shape_checked(reader(values, options, where=where), where):
                    self._add(spans, feedback, where)
        except UnicodeDecodeError as exc:
            raise FormatError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        finally:
            text.detach()

    # -- pieces ---------------------------------------------------------------------------------

    def _proto_messages(self, stream: IO[bytes], where: str) -> Iterator[Any]:
        try:
            count = otlp_proto.check_framing(stream, where=where)
        except FormatError as framing:
            stream.seek(0)
            data = stream.read(otlp_proto.MAX_MESSAGE_BYTES + 1)
            if len(data) > otlp_proto.MAX_MESSAGE_BYTES:
                raise framing from None
            try:
                message = otlp_proto.parse_request(data, where=where)
            except FormatError:
                raise NotTraceDataError(f"{framing}; read as one OTLP protobuf message it does not parse either, "
                                        "so it is neither JSON nor OTLP protobuf") from None
            if not message.resource_spans:
                raise NotTraceDataError(f"{where}: holds no OTLP trace data (neither length-prefixed messages nor "
                                        "one ExportTraceServiceRequest)") from None
            yield message
            return
        for number, data in otlp_proto.framed_messages(stream):
            yield otlp_proto.parse_request(data, where=f"{where}: message {number} of {count}")
        stream.seek(0)

    def _spans(self, spans: Iterator[Any], options: MapOptions, where: str) -> None:
        for span in spans:
            try:
                record = span_record(span, options)
            except Exception as exc:  # one odd span costs itself, said in the summary, never the file
                self.sink.summary.skip(f"a span that could not be mapped ({type(exc).__name__}: {exc})"[:200])
                continue
            self.sink.add(record)
            self.tick(where)

    def _add(self, spans: list[Any], feedback: list[Any], where: str) -> None:
        self.sink.add_all(spans)
        for record in feedback:
            self.sink.add_feedback(record)
        self.tick(where)


def _shape_checked(traces: Iterator[Any], where: str) -> Iterator[Any]:
    """``traces`` as they are read, with a field of the wrong type (``"tags": 5``) a FormatError naming
    the file (the whole file is then taken back) instead of a traceback from deep in a reader."""
    while True:
        try:
            item = next(traces)
        except StopIteration:
            return
        except (TypeError, AttributeError, KeyError) as exc:
            raise FormatError(f"{where}: a field of the wrong type ({type(exc).__name__}: {exc}); nothing of "
                              "it was imported") from None
        yield item


def import_paths(
    paths: Sequence[str],
    *,
    store_path: Path,
    format: str = "auto",
    options: MapOptions | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import every file of ``paths`` (files, folders, ``-``) into the store at ``store_path``.

    A file that cannot be imported is listed in :attr:`ImportResult.failed` with why, and nothing of it
    is written; the other files are imported all the same. Importing the same files again adds nothing.
    """
    if format not in FORMATS:
        raise FormatError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    options = options or MapOptions()
    result = ImportResult(summary=ImportSummary())
    with Store(store_path) as store:
        sink = TraceSink(store, summary=result.summary)
        importer = _Importer(sink, options, progress, store_path)
        for name, named in expand(paths):
            where = "standard input" if name == "-" else name
            try:
                with _opened(name) as (stream, real):
                    kind = sniff(stream, where=where) if format == "auto" else format
                    if kind != "flywheel-store":
                        importer.check(kind, stream, where)
                    sink.begin_unit()
                    importer.write(kind, stream, where, real)
                    sink.end_unit()
            except FormatError as exc:
                sink.undo_unit()
                if isinstance(exc, NotTraceDataError) and not named:
                    result.passed_over.append(where)
                else:
                    result.failed.append((where, str(exc)))
                continue
            except OSError as exc:  # a file the system cannot read (a device, an I/O error): refused whole
                sink.undo_unit()
                result.failed.append((where, f"{where}: cannot be read ({exc.strerror or exc}); nothing of it was imported"))
                continue
            except BaseException:
                sink.undo_unit()  # interrupted (Ctrl-C): the file is taken back whole; the earlier ones stay
                raise
            result.formats[where] = kind
            result.summary.files += 1
        sink.close()
    return result
