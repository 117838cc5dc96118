"""Langfuse exports: a trace with its observations (and scores) as spans and feedback.

Langfuse writes a trace as ``{"trace": {...}, "observations": [...]}`` (a trace's JSON download);
its public API answers ``GET /api/public/traces/{id}`` with the trace object holding ``observations``
and ``scores`` itself. Both are read, alone, in a top-level array, or one per line.

Observations become spans: ``GENERATION`` and ``EMBEDDING`` are llm spans, ``TOOL`` tool,
``RETRIEVER`` retrieval, ``GUARDRAIL`` guardrail, the rest (``SPAN``, ``AGENT``, ``CHAIN``, ``EVENT``,
``EVALUATOR``) general. ``usageDetails`` gives tokens (``usage`` or ``promptTokens`` and
``completionTokens`` in exports from before it; cache reads and writes are taken out of the
input, as elsewhere), ``costDetails.total`` the cost, ``level: ERROR`` with ``statusMessage`` the error.
The OpenTelemetry attributes Langfuse kept in ``metadata.attributes`` supply a tool's own name and the
code location. Scores become feedback on the trace. The trace itself becomes the root span (its name,
input and output kept), unless its one top observation is a span of the agent (as in an export of
OpenTelemetry spans), which is then the root.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_flywheel.interop import genai
from pytest_flywheel.interop.errors import FormatError
from pytest_flywheel.interop.mapping import MapOptions, code_location, leftover_attributes
from pytest_flywheel.interop.timestamps import iso_seconds
from pytest_flywheel.store import FeedbackRecord, SpanRecord
from pytest_flywheel.tracing.pricing import cost_usd
from pytest_flywheel.tracing.serialize import bounded

TYPES = {"GENERATION": "llm", "EMBEDDING": "llm", "TOOL": "tool", "RETRIEVER": "retrieval",
         "GUARDRAIL": "guardrail"}
_CACHE_READ = ("input_cache_read", "cache_read_input_tokens", "input_cached_tokens", "prompt_details.cache_read",
               "cache_read")
_CACHE_WRITE = ("input_cache_creation", "cache_creation_input_tokens", "cache_creation", "input_cache_write")


def is_langfuse(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    if isinstance(document.get("trace"), dict) and isinstance(document.get("observations"), list):
        return True
    return isinstance(document.get("observations"), list) and "id" in document and "projectId" in document


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(usage: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def _usage(obs: dict[str, Any]) -> dict[str, Any]:
    """The token counts: ``usageDetails``, or in older exports ``usage`` (``input``, ``output``) or the
    flat ``promptTokens`` / ``completionTokens``."""
    for found in (obs.get("usageDetails"), obs.get("usage")):
        if isinstance(found, dict) and found:
            return found
    flat = {"input": obs.get("promptTokens"), "output": obs.get("completionTokens")}
    return {key: value for key, value in flat.items() if value is not None}


def _observation(obs: dict[str, Any], trace: dict[str, Any], options: MapOptions, *, root: bool,
                 where: str) -> SpanRecord:
    where = f"{where}: trace {trace['id']}: observation {obs.get('id')!r}"
    kind = TYPES.get(str(obs.get("type") or "").upper(), "general")
    metadata_in = _mapping(obs.get("metadata"))
    attributes = _mapping(metadata_in.get("attributes"))
    name = str(obs.get("name") or "")
    if kind == "tool":
        name = str(attributes.get("gen_ai.tool.name") or attributes.get("tool.name") or name)
    start = iso_seconds(obs.get("startTime"), what=f"{where} startTime")
    end = iso_seconds(obs["endTime"], what=f"{where} endTime") if obs.get("endTime") else start
    usage = _usage(obs)
    model = obs.get("model") if kind == "llm" and obs.get("model") not in (None, "", "unknown") else None
    cache_read, cache_write = _count(usage, _CACHE_READ), _count(usage, _CACHE_WRITE)
    fresh = _count(usage, ("input", "prompt_tokens", "input_tokens"))
    if fresh is not None:
        fresh = max(0, fresh - (cache_read or 0) - (cache_write or 0))
    output_tokens = _count(usage, ("output", "completion_tokens", "output_tokens"))
    cost_details = _mapping(obs.get("costDetails"))
    cost = cost_details.get("total", obs.get("totalCost") or obs.get("calculatedTotalCost"))
    metadata: dict[str, Any] = {
        "langfuse": {key: obs[key] for key in ("type", "level", "environment", "modelParameters") if obs.get(key)},
        "imported": {"format": options.source},
    }
    leftovers = leftover_attributes(attributes)
    if leftovers:
        metadata["otel"] = {"attributes": leftovers}
    if kind != "llm":
        if fresh is not None or output_tokens is not None:
            metadata["usage"] = {"input_tokens": fresh, "output_tokens": output_tokens}
        fresh = output_tokens = cache_read = cache_write = None
        cost = None
    elif not cost and model:
        cost = cost_usd(str(model), input_tokens=fresh, output_tokens=output_tokens, cache_read_tokens=cache_read,
                        cache_creation_tokens=cache_write, overrides=options.prices)
    error = None
    if str(obs.get("level") or "").upper() == "ERROR":
        error = {"type": "Error", "message": str(obs.get("statusMessage") or ""), "traceback": ""}
    module, qualname = code_location(attributes)
    limit = options.max_payload_bytes
    input_value, output_value = obs.get("input"), obs.get("output")
    if kind == "llm":
        input_value, output_value = _as_request(input_value, model), _as_response(output_value)
    tags = trace["tags"] if root and isinstance(trace.get("tags"), list) else []
    return SpanRecord(
        id=str(obs["id"]),
        trace_id=str(obs.get("traceId") or trace["id"]),
        parent_id=str(obs["parentObservationId"]) if obs.get("parentObservationId") else None,
        name=name,
        type=kind,
        start_time=start,
        end_time=max(end, start),
        project=options.project or options.default_project,
        input=bounded(input_value, limit),
        output=bounded(output_value, limit),
        error=error,
        tags=[str(tag) for tag in tags],
        metadata=bounded(metadata, limit),
        module=module,
        qualname=qualname,
        model=str(model) if model else None,
        input_tokens=fresh,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_write,
        cost_usd=float(cost) if isinstance(cost, int | float) and kind == "llm" else None,
    )


def _chat(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, dict) and "role" in item and ("parts" in item or "content" in item) for item in value)


def _as_request(value: Any, model: Any) -> Any:
    """A GenAI chat history as a Messages-API-shaped request (other shapes are kept as they are)."""
    if not _chat(value):
        return value
    system, messages = genai.to_messages(value)
    request: dict[str, Any] = {"model": model} if model else {}
    if system:
        request["system"] = system
    request["messages"] = messages
    return request


def _as_response(value: Any) -> Any:
    if not _chat(value):
        return value
    _, messages = genai.to_messages(value)
    reply: dict[str, Any] = {"role": "assistant", "content": [b for m in messages for b in m["content"]]}
    finish = next((item.get("finish_reason") for item in value if item.get("finish_reason")), None)
    if finish:
        reply["stop_reason"] = finish
    return reply


def read_trace(document: dict[str, Any], options: MapOptions, *, where: str) -> tuple[list[SpanRecord],
                                                                                       list[FeedbackRecord]]:
    """The spans and feedback of one exported Langfuse trace (all read before any is written)."""
    trace = document["trace"] if isinstance(document.get("trace"), dict) else document
    observations = [obs for obs in document.get("observations") or [] if isinstance(obs, dict)]
    if not trace.get("id"):
        raise FormatError(f"{where}: a Langfuse trace without an id")
    if any(not obs.get("id") for obs in observations):
        raise FormatError(f"{where}: trace {trace['id']}: an observation without an id")
    top = [obs for obs in observations if not obs.get("parentObservationId")]
    # One top observation that is a span of the agent (an OTel export's root span) is the root; a model
    # call, tool or retrieval under the trace itself (Langfuse's own SDK) gets the trace as its root, so
    # the entrypoint's name and input are kept.
    own_root = len(top) == 1 and TYPES.get(str(top[0].get("type") or "").upper(), "general") == "general"
    spans = [_observation(obs, trace, options, root=own_root and obs is top[0], where=where)
             for obs in observations]
    if not own_root and trace.get("timestamp"):
        # observations under the trace itself: the trace becomes their root span
        start = iso_seconds(trace["timestamp"], what=f"{where} trace timestamp")
        latency = trace.get("latency")
        root = SpanRecord(
            id=str(trace["id"]), trace_id=str(trace["id"]), parent_id=None, name=str(trace.get("name") or ""),
            type="general", start_time=start,
            end_time=start + (float(latency) if isinstance(latency, int | float) else 0.0),
            project=options.project or options.default_project, input=trace.get("input"),
            output=trace.get("output"), tags=[str(t) for t in trace.get("tags") or []],
            metadata={"imported": {"format": options.source}},
        )
        for span in spans:
            if span.parent_id is None:
                span.parent_id = root.id
        spans.insert(0, root)
    scores = trace.get("scores") or document.get("scores") or []
    if not isinstance(scores, list):
        raise FormatError(f"{where}: trace {trace['id']}: scores must be a list, found {type(scores).__name__}")
    feedback = [_score(score, trace, where=where) for score in scores if isinstance(score, dict) and score.get("name")]
    return spans, feedback


def _score(score: dict[str, Any], trace: dict[str, Any], *, where: str) -> FeedbackRecord:
    value = score.get("value")
    if value is None:
        value = score.get("stringValue")
    stamp = score.get("timestamp") or score.get("createdAt") or trace.get("timestamp")
    return FeedbackRecord(
        trace_id=str(score.get("traceId") or trace["id"]),
        name=str(score["name"]),
        value=value,
        reason=score.get("comment"),
        created_at=iso_seconds(stamp, what=f"{where} score timestamp") if stamp else 0.0,
    )


def traces(values: Iterator[tuple[int, Any]], options: MapOptions, *, where: str) -> Iterator[
        tuple[list[SpanRecord], list[FeedbackRecord]]]:
    """Each exported trace among ``values`` (line, JSON value), read whole before it is yielded."""
    for line, value in values:
        if not is_langfuse(value):
            raise FormatError(f"{where}: line {line}: not a Langfuse trace export (expected "
                              '{"trace": {...}, "observations": [...]})')
        yield read_trace(value, options, where=f"{where}: line {line}")
