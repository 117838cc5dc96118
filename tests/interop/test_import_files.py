"""``flywheel import`` on real OTLP files and on bad input: a clear message, nothing half-written."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.store import Store

from .otel import write_spans


def _agent_spans(tracer: Any, count: int = 3, *, fail: bool = False) -> None:
    from opentelemetry.trace import Status, StatusCode

    for number in range(count):
        with tracer.start_as_current_span("answer", attributes={"input.value": json.dumps({"n": number}),
                                                                 "input.mime_type": "application/json",
                                                                 "deployment.ring": "canary"}) as root:
            with tracer.start_as_current_span("chat claude-sonnet-5-5", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-5-5", "gen_ai.usage.input_tokens": 130,
                    "gen_ai.usage.output_tokens": 20, "gen_ai.usage.cache_read.input_tokens": 100}):
                pass
            if fail:
                try:
                    raise TimeoutError("tool timed out")
                except TimeoutError as exc:
                    root.record_exception(exc)
                    root.set_status(Status(StatusCode.ERROR, "tool timed out"))


def _import(store: Path, *paths: str, expect: int = 0, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    captured = io.StringIO()
    stdout, sys.stdout = sys.stdout, captured
    try:
        assert main(["import", *paths, "--store", str(store), "--json", *extra]) == expect
    finally:
        sys.stdout = stdout
    return dict(json.loads(captured.getvalue()))


def _count(store: Path, table: str) -> int:
    with Store(store) as opened:
        return int(opened.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_otlp_json_spans_map_tokens_cost_errors_and_keep_unknown_attributes(tmp_path: Path) -> None:
    source = write_spans(tmp_path / "a.jsonl", lambda tracer: _agent_spans(tracer, 1, fail=True))
    store = tmp_path / "f.db"
    assert _import(store, str(source))["spans"] == 2
    with Store(store) as opened:
        trace = opened.conn.execute("SELECT * FROM traces").fetchone()
        spans = {span.type: span for span in opened.get_spans(trace["id"])}
    llm, root = spans["llm"], spans["general"]
    # GenAI counts cache reads inside the input; the store keeps them apart, as Anthropic does
    assert (llm.input_tokens, llm.cache_read_tokens, llm.output_tokens) == (30, 100, 20)
    assert llm.cost_usd == pytest.approx((30 * 2.0 + 100 * 0.10 + 20 * 10.0) / 1e6)
    assert root.error is not None and root.error["type"] == "TimeoutError" and "tool timed out" in root.error["message"]
    assert "Traceback" in root.error["traceback"]
    assert trace["status"] == "error" and trace["input_tokens"] == 30
    assert root.metadata["otel"]["attributes"] == {"deployment.ring": "canary"}  # unknown: kept, not lost
    assert root.metadata["otel"]["service"] == "support-agent" and root.project == "support-agent"


def test_a_folder_imports_once_however_often_it_is_imported(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write_spans(folder / "one.jsonl", _agent_spans)
    write_spans(folder / "two.json", lambda tracer: _agent_spans(tracer, 2))
    (folder / "notes.txt").write_text("not a trace file")
    store = tmp_path / "f.db"
    first = _import(store, str(folder))
    assert (first["files"], first["traces"], first["spans"]) == (2, 5, 10)
    again = _import(store, str(folder), str(folder / "one.jsonl"))
    assert (again["traces"], again["spans"], again["already_present"]) == (0, 0, 16)
    assert _count(store, "spans") == 10 and _count(store, "traces") == 5


def test_a_file_cut_short_is_refused_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_spans(tmp_path / "a.jsonl", lambda tracer: _agent_spans(tracer, 5))
    data = source.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) - 40])
    store = tmp_path / "f.db"
    result = _import(store, str(cut), expect=1)
    assert result["spans"] == 0 and "cut short" in result["failed"][0]["error"]
    assert _count(store, "spans") == 0
    # and in a folder, the other files still import
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "cut.jsonl").write_bytes(cut.read_bytes())
    (folder / "good.jsonl").write_bytes(data)
    mixed = _import(store, str(folder), expect=1)
    assert mixed["spans"] == 10 and [f["path"] for f in mixed["failed"]] == [str(folder / "cut.jsonl")]


def test_a_broken_line_in_the_middle_takes_the_whole_file_back(tmp_path: Path) -> None:
    source = write_spans(tmp_path / "a.jsonl", lambda tracer: _agent_spans(tracer, 4))
    lines = source.read_text().splitlines()
    lines.insert(len(lines) // 2, '{"resourceSpans": [ not json')
    source.write_text("\n".join(lines) + "\n")
    store = tmp_path / "f.db"
    earlier = write_spans(tmp_path / "earlier.jsonl", lambda tracer: _agent_spans(tracer, 2))
    _import(store, str(earlier))
    result = _import(store, str(source), expect=1)
    # the lines before the broken one were written, then taken back with the file: only the earlier file stays
    assert "is not valid JSON" in result["failed"][0]["error"]
    assert (result["spans"], result["traces"]) == (0, 0)
    assert (_count(store, "spans"), _count(store, "traces")) == (4, 2)
    source.write_text("\n".join(line for line in lines if "not json" not in line) + "\n")
    assert _import(store, str(source))["spans"] == 8  # fixed, it imports whole


@pytest.mark.parametrize(("content", "message"), [
    (b'{"hello": "world"}\n', "not a trace export flywheel import knows"),
    (b"", "an empty file"),
    (b"\x28\xb5\x2f\xfd\x00\x01", "zstd"),
    (b'{"a": "\xff\xfe"}', "not UTF-8"),
    (b"\xff\xfe garbage", "neither JSON nor OTLP protobuf"),
    (b"\x00\x00\x10\x00garbage", "neither JSON nor OTLP protobuf"),
    (b'{"resourceSpans": 5}\n', "resourceSpans must be a list"),
    (b'{"resourceSpans": {"scopeSpans": []}}\n', "resourceSpans must be a list"),
    (b"[" * 100_000, "nested too deeply"),
    (b'{"trace": {"id": "t", "scores": 5}, "observations": []}', "scores must be a list"),
    (b'{"trace": {"id": "t"}, "observations": [{"id": "o"}]}', "trace t: observation 'o' startTime None is not"),
    (b'{"trace": {"id": "t", "timestamp": "2026-01-01T00:00:00Z", "tags": 5}, "observations": []}',
     "a field of the wrong type"),
    (b'{"trace": {"id": "t", "start_time": "2026-01-01T00:00:00Z", "tags": 5}, "spans": []}',
     "a field of the wrong type"),
    (b'{"trace": {"id": "t", "start_time": "2026-01-01T00:00:00Z", "feedback_scores": 5}, "spans": []}',
     "a field of the wrong type"),
    (b'{"trace": {"id": "t"}, "observations": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
])
def test_wrong_formats_get_a_clear_message(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    result = _import(tmp_path / "f.db", str(bad), expect=1)
    assert message in result["failed"][0]["error"]
    assert str(bad) in result["failed"][0]["error"]


def test_a_named_format_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    source = write_spans(tmp_path / "a.jsonl", _agent_spans)
    result = _import(tmp_path / "f.db", str(source), expect=1, extra=("--format", "langfuse"))
    assert "not a Langfuse trace export" in result["failed"][0]["error"]


def test_orphans_are_kept_and_counted(tmp_path: Path) -> None:
    source = write_spans(tmp_path / "a.jsonl", lambda tracer: _agent_spans(tracer, 2))
    lines = [json.loads(line) for line in source.read_text().splitlines()]
    # drop every root span: their children now name a parent that never arrives
    kept = [line for line in lines if line["resourceSpans"][0]["scopeSpans"][0]["spans"][0].get("parentSpanId")]
    source.write_text("".join(json.dumps(line) + "\n" for line in kept))
    store = tmp_path / "f.db"
    result = _import(store, str(source))
    assert (result["spans"], result["orphans"], result["traces"]) == (2, 2, 2)
    assert main(["traces", "show", _first_trace(store), "--store", str(store)]) == 0


def _first_trace(store: Path) -> str:
    with Store(store) as opened:
        return str(opened.conn.execute("SELECT id FROM traces").fetchone()[0])


def test_spans_that_cannot_be_read_are_skipped_with_why(tmp_path: Path) -> None:
    document = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "x"}, "spans": [
        {"traceId": "", "spanId": "0102030405060708", "name": "no trace id"},
        {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "zz", "name": "bad span id"},
        {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "fine",
         "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
         "attributes": [{"key": "some.vendor.thing", "value": {"kvlistValue": {"values": [
             {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "7"}]}}}]}}}]},
    ]}]}]}
    source = tmp_path / "odd.json"
    source.write_text(json.dumps(document, indent=2))  # pretty-printed, one document
    store = tmp_path / "f.db"
    result = _import(store, str(source))
    assert result["spans"] == 1 and result["skipped"] == 2
    assert any("without a traceId" in why for why in result["skipped_why"])
    with Store(store) as opened:
        (span,) = opened.get_spans("0102030405060708090a0b0c0d0e0f10")
    assert span.metadata["otel"]["attributes"] == {"some.vendor.thing": {"a": [7]}}
    assert span.duration_ms == pytest.approx(1000.0)


def test_entries_of_the_wrong_shape_are_skipped_with_why(tmp_path: Path) -> None:
    fine = {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "fine",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000"}
    document = {"resourceSpans": [
        {"resource": 5, "scopeSpans": 5},
        {"resource": [], "scopeSpans": [{"spans": {"not": "a list"}}]},
        {"resource": {}, "scopeSpans": [{"spans": [fine]}]},
    ]}
    source = tmp_path / "odd.json"
    source.write_text(json.dumps(document))
    result = _import(tmp_path / "f.db", str(source))
    assert result["spans"] == 1 and result["skipped"] == 2
    assert any("scopeSpans that is not a list" in why for why in result["skipped_why"])


def test_gzip_and_standard_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_spans(tmp_path / "a.jsonl", _agent_spans)
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    store = tmp_path / "f.db"
    assert _import(store, str(packed))["spans"] == 6
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(source.read_bytes())))
    assert _import(store, "-")["already_present"] == 6


def test_otlp_protobuf_files_length_prefixed_as_the_collector_writes_them(tmp_path: Path) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from .otel import provider_to

    memory = InMemorySpanExporter()
    with provider_to(memory) as provider:
        _agent_spans(provider.get_tracer("t"), 3)
    spans = memory.get_finished_spans()
    messages = [encode_spans(spans[:3]).SerializeToString(), encode_spans(spans[3:]).SerializeToString()]
    framed = tmp_path / "traces.pb"
    framed.write_bytes(b"".join(len(m).to_bytes(4, "big") + m for m in messages))
    store = tmp_path / "f.db"
    result = _import(store, str(framed))
    assert (result["traces"], result["spans"], result["formats"][str(framed)]) == (3, 6, "otlp-proto")
    single = tmp_path / "one.binpb"  # one unframed message, as an OTLP/HTTP body is
    single.write_bytes(messages[0])
    assert _import(tmp_path / "g.db", str(single))["spans"] == 3
    cut = tmp_path / "cut.pb"
    cut.write_bytes(framed.read_bytes()[:-10])
    refused = _import(tmp_path / "h.db", str(cut), expect=1)
    assert "cut short" in refused["failed"][0]["error"] and _count(tmp_path / "h.db", "spans") == 0


def test_another_flywheel_store(tmp_path: Path) -> None:
    source_store = tmp_path / "host-a.db"
    _import(source_store, str(write_spans(tmp_path / "a.jsonl", _agent_spans)))
    with Store(source_store) as opened:
        from pytest_flywheel.store import FeedbackRecord

        opened.add_feedback(FeedbackRecord(trace_id=_first_trace(source_store), name="thumbs", value=0,
                                           reason="wrong", created_at=1.0))
    store = tmp_path / "main.db"
    result = _import(store, str(source_store), extra=("--project", "host-a"))
    assert (result["traces"], result["spans"], result["feedback"], result["formats"][str(source_store)]) == (
        3, 6, 1, "flywheel-store")
    assert _import(store, str(source_store))["feedback"] == 0  # idempotent, feedback too
    with Store(store) as opened:
        assert {row[0] for row in opened.conn.execute("SELECT project FROM spans")} == {"host-a"}
    assert "is the store being imported into" in _import(store, str(store), expect=1)["failed"][0]["error"]


def test_nothing_to_import_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["import", str(empty), "--store", str(tmp_path / "f.db")]) == 1
    assert "no trace files found" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.json"), "--store", str(tmp_path / "f.db")]) == 1
    assert "cannot be read" in capsys.readouterr().err


def test_files_of_other_kinds_inside_a_folder_are_passed_over(tmp_path: Path) -> None:
    """Found in a stranger's run: a folder with other files (an Opik export's datasets, compressed
    man pages) failed the whole import; only files named on the command line must be trace files."""
    folder = tmp_path / "export"
    folder.mkdir()
    write_spans(folder / "traces.jsonl", _agent_spans)
    (folder / "dataset_items.json").write_text('{"items": [1, 2]}')
    (folder / "notes.gz").write_bytes(gzip.compress(b"just some text, not traces"))
    store = tmp_path / "f.db"
    result = _import(store, str(folder))
    assert (result["files"], result["spans"], result["failed"]) == (1, 6, [])
    assert result["passed_over"] == [str(folder / "dataset_items.json"), str(folder / "notes.gz")]
    named = _import(store, str(folder / "notes.gz"), expect=1)
    assert "neither JSON nor OTLP protobuf" in named["failed"][0]["error"]
    assert "cut short" not in named["failed"][0]["error"]  # an absurd first length is not "cut short"


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    source = write_spans(tmp_path / "a.jsonl", _agent_spans)
    odd = tmp_path / os.fsdecode(b"\xff\xfe.jsonl")
    source.rename(odd)
    result = _import(tmp_path / "f.db", str(odd))
    assert result["spans"] == 6


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_or_a_pipe_is_refused_unread(tmp_path: Path) -> None:
    """Found in a stranger's run: `flywheel import /dev/zero` read empty messages forever."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # opening it to read would wait for a writer
    result = _import(tmp_path / "f.db", "/dev/zero", str(pipe), expect=1)
    errors = [failed["error"] for failed in result["failed"]]
    assert len(errors) == 2
    assert all("not a regular file" in error and "flywheel import -" in error for error in errors)


def test_capturing_an_imported_trace_with_no_code_location_says_which_attributes_give_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a stranger's run: the advice was to trace the entrypoint with @track, which an
    imported trace cannot do; its root span needs code.namespace and code.function."""
    monkeypatch.chdir(tmp_path)
    root = {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "handle",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000"}
    source = tmp_path / "otel.json"
    source.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [root]}]}]}))
    store = tmp_path / "f.db"
    _import(store, str(source))

    assert main(["suite", "add", "qa", "--trace", "01020304", "--assert", "x", "--store", str(store)]) == 1

    err = capsys.readouterr().err
    assert "records no code location" in err and "code.namespace" in err and "code.function" in err
