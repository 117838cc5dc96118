"""An :class:`OtelSpan` as the store's :class:`SpanRecord`: one mapping for files and the receiver.

What decides each field, first match wins:

* **ids** — ``flywheel.span.id`` / ``flywheel.parent.id`` (spans this package exported) or the OTLP ids.
* **type** — ``flywheel.span.type``; ``openinference.span.kind``; ``gen_ai.operation.name``
  (``chat``, ``text_completion``, ``generate_content``, ``embeddings``: llm; ``execute_tool``: tool;
  ``retrieval``); OpenLLMetry's ``traceloop.span.kind``; a ``gen_ai.tool.name``; a GenAI provider with a
  model: llm; otherwise general.
* **input / output** — ``input.value`` / ``output.value``; for llm spans the GenAI or OpenInference
  messages, shaped like a Messages API request (``{"model", "system", "messages"}``) and response
  (``{"role", "content", "stop_reason"}``); for tools ``gen_ai.tool.call.arguments`` / ``.result``.
  An OpenInference Anthropic span that carries the whole request and response keeps them exactly, with
  ``metadata["anthropic"]``, so that capture can write its HTTP interaction into a cassette.
* **model, tokens, cost** — response model before request model; GenAI and OpenInference count cache
  reads and writes inside the input tokens, Anthropic (and the store) apart from them, so they are
  taken out; cost as given, else from the price table (``[tool.flywheel.prices]`` first).
* **error** — an ERROR status, with the last ``exception`` event's type, message and stack trace.

Attributes no rule reads are kept under ``metadata["otel"]["attributes"]`` (long strings cut), so
nothing the sender said is thrown away silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.interop import genai, openinference
from pytest_flywheel.interop.flat import parse_json_text
from pytest_flywheel.interop.otel_span import KIND_NAMES, STATUS_ERROR, OtelSpan
from pytest_flywheel.store.records import SPAN_TYPES, SpanRecord
from pytest_flywheel.tracing.pricing import Price, cost_usd
from pytest_flywheel.tracing.serialize import bounded

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})
LEFTOVER_STRING_CHARS = 8_192

_CONSUMED_KEYS = frozenset({
    "input.value", "input.mime_type", "output.value", "output.mime_type", "openinference.span.kind",
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.retrieval.documents",
    "gen_ai.retrieval.query.text", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.system",
    "gen_ai.provider.name", "gen_ai.response.finish_reasons", "llm.model_name", "llm.request.model_name",
    "llm.response.model_name", "llm.finish_reason", "llm.invocation_parameters", "llm.provider", "llm.system",
    "traceloop.entity.input", "traceloop.entity.output", "tool_arguments", "tool_response", "tag.tags",
    "code.function", "code.namespace", "code.function.name", "code.filepath", "code.file.path", "code.lineno",
    "code.line.number", "gen_ai.prompt", "gen_ai.completion",
})
_CONSUMED_PREFIXES = ("flywheel.", "llm.input_messages.", "llm.output_messages.", "llm.tools.", "gen_ai.prompt.",
                      "gen_ai.completion.", "retrieval.documents.", "gen_ai.usage.", "llm.token_count.",
                      "llm.cost.", "llm.usage.")


@dataclass(frozen=True)
class MapOptions:
    """How spans are mapped: ``project`` overrides every span's project; ``source`` names the format."""

    default_project: str = "default"
    project: str | None = None
    prices: Mapping[str, Price] | None = None
    max_payload_bytes: int = 1_048_576
    source: str = "otlp"


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _first(attributes: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in attributes:
            value = attributes[key]
            if value is not None and value != "":
                return value
    return None


def span_type(attributes: dict[str, Any], name: str) -> str:
    """The store's span type for a span with these attributes."""
    own = attributes.get("flywheel.span.type")
    if own in SPAN_TYPES:
        return str(own)
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str):
        return openinference.KIND_TYPES.get(kind.upper(), "general")
    operation = attributes.get("gen_ai.operation.name")
    if operation in LLM_OPERATIONS:
        return "llm"
    if operation == "execute_tool":
        return "tool"
    if operation == "retrieval":
        return "retrieval"
    if operation is not None:
        return "general"
    traceloop = attributes.get("traceloop.span.kind")
    if traceloop == "tool":
        return "tool"
    if attributes.get("llm.request.type") in ("chat", "completion"):
        return "llm"
    if "gen_ai.tool.name" in attributes:
        return "tool"
    if _first(attributes, "gen_ai.provider.name", "gen_ai.system") and _first(
            attributes, "gen_ai.request.model", "gen_ai.response.model"):
        return "llm"
    return "general"


def _error(span: OtelSpan, attributes: dict[str, Any]) -> dict[str, Any] | None:
    if span.status_code != STATUS_ERROR:
        return None
    exception = next((e.attributes for e in reversed(span.events) if e.name == "exception"), {})
    own = parse_json_text(attributes.get("flywheel.error"))
    if isinstance(own, dict):
        return own
    return {
        "type": str(exception.get("exception.type") or attributes.get("error.type") or "Error"),
        "message": str(span.status_message or exception.get("exception.message") or ""),
        "traceback": str(exception.get("exception.stacktrace") or ""),
    }


def code_location(attributes: dict[str, Any]) -> tuple[str | None, str | None]:
    own = attributes.get("flywheel.location")
    if isinstance(own, str) and ":" in own:
        module, _, qualname = own.partition(":")
        return module, qualname
    name = attributes.get("code.function.name")
    if isinstance(name, str) and ":" in name:
        module, _, qualname = name.partition(":")
        return module, qualname
    namespace, function = attributes.get("code.namespace"), attributes.get("code.function")
    if isinstance(namespace, str) and isinstance(function, str) and namespace and function:
        return namespace, function
    return None, None


def leftover_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in _CONSUMED_KEYS or key.startswith(_CONSUMED_PREFIXES):
            continue
        if isinstance(value, str) and len(value) > LEFTOVER_STRING_CHARS:
            value = value[:LEFTOVER_STRING_CHARS] + "…"
        kept[key] = value
    return kept


class _Usage:
    __slots__ = ("cache_creation", "cache_read", "cost", "input", "output")

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.cost: float | None = None


def _usage(attributes: dict[str, Any]) -> _Usage:
    usage = _Usage()
    a = attributes
    usage.cache_read = _int(_first(a, "gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read",
                                   "gen_ai.usage.cache_read_input_tokens"))
    usage.cache_creation = _int(_first(a, "gen_ai.usage.cache_creation.input_tokens",
                                       "llm.token_count.prompt_details.cache_write",
                                       "gen_ai.usage.cache_creation_input_tokens"))
    total_in = _int(_first(a, "gen_ai.usage.input_tokens", "llm.token_count.prompt", "gen_ai.usage.prompt_tokens"))
    if total_in is not None:
        # the conventions count cache reads and writes inside the input; the store (like Anthropic) does not
        usage.input = max(0, total_in - (usage.cache_read or 0) - (usage.cache_creation or 0))
    usage.output = _int(_first(a, "gen_ai.usage.output_tokens", "llm.token_count.completion",
                               "gen_ai.usage.completion_tokens"))
    usage.cost = _float(_first(a, "flywheel.cost_usd", "llm.cost.total", "gen_ai.usage.cost"))
    return usage


def _anthropic_exchange(attributes: dict[str, Any], name: str) -> tuple[Any, Any, dict[str, Any]] | None:
    """The exact request and response of an Anthropic call, when the span carries both whole."""
    provider = str(_first(attributes, "llm.provider", "llm.system", "gen_ai.provider.name", "gen_ai.system") or "")
    if provider != "anthropic":
        return None
    request = openinference.value(attributes, "input")
    response = openinference.value(attributes, "output")
    if not (isinstance(request, dict) and isinstance(request.get("messages"), list) and request.get("model")):
        return None
    if not (isinstance(response, dict) and response.get("type") == "message"
            and isinstance(response.get("content"), list) and isinstance(response.get("usage"), dict)):
        return None
    parameters = parse_json_text(attributes.get("llm.invocation_parameters"))
    stream = bool(request.get("stream")) or (isinstance(parameters, dict) and bool(parameters.get("stream")))
    endpoint = "messages.stream" if name.endswith("messages.stream") else "messages.create"
    return request, response, {"endpoint": endpoint, "stream": stream, "base_url": ""}


def _llm_payloads(span: OtelSpan, attributes: dict[str, Any], model: str | None) -> tuple[Any, Any, str | None]:
    """(input, output, finish reason) of an llm span, Messages-API shaped."""
    system, inputs, outputs, finish = genai.conversation(attributes, span.events)
    if not inputs and not outputs:
        system, inputs = openinference.messages(attributes, "input_messages")
        _, outputs = openinference.messages(attributes, "output_messages")
    request: dict[str, Any] = {}
    if model:
        request["model"] = model
    if system:
        request["system"] = system
    for key, field in (("gen_ai.request.max_tokens", "max_tokens"), ("gen_ai.request.temperature", "temperature")):
        if attributes.get(key) is not None:
            request[field] = attributes[key]
    if inputs:
        request["messages"] = inputs
    given_in = openinference.value(attributes, "input")
    given_out = openinference.value(attributes, "output")
    finish = finish or _first(attributes, "llm.finish_reason")
    reasons = attributes.get("gen_ai.response.finish_reasons")
    if finish is None and isinstance(reasons, list | tuple) and reasons:
        finish = str(reasons[0])
    if outputs:
        content = [block for message in outputs for block in message.get("content", [])]
        response: Any = {"role": "assistant", "content": content}
        if finish:
            response["stop_reason"] = finish
    else:
        response = given_out
    return (request if inputs else (given_in if given_in is not None else (request or None))), response, finish


def _tool_payloads(attributes: dict[str, Any]) -> tuple[Any, Any]:
    arguments = _first(attributes, "gen_ai.tool.call.arguments", "tool_arguments", "traceloop.entity.input")
    result = _first(attributes, "gen_ai.tool.call.result", "tool_response", "traceloop.entity.output")
    given_in = openinference.value(attributes, "input")
    given_out = openinference.value(attributes, "output")
    return (
        given_in if given_in is not None else parse_json_text(arguments),
        given_out if given_out is not None else parse_json_text(result),
    )


def span_record(span: OtelSpan, options: MapOptions) -> SpanRecord:
    """The store's record of ``span``."""
    a = span.attributes
    kind = span_type(a, span.name)
    own = "flywheel.span.type" in a
    module, qualname = code_location(a)
    name = span.name
    if kind == "tool" and not own:
        # replay finds a recorded tool call by the tool's name, which @track uses as the span name
        name = str(_first(a, "gen_ai.tool.name", "tool.name") or name)
    model = _first(a, "gen_ai.response.model", "llm.response.model_name", "llm.model_name",
                   "gen_ai.request.model", "llm.request.model_name")
    usage = _usage(a)
    metadata: dict[str, Any]
    stop_reason: str | None = None
    exchange = _anthropic_exchange(a, span.name) if kind == "llm" and not own else None
    if own:
        input_value = openinference.value(a, "input")
        output_value = openinference.value(a, "output")
        own_metadata = parse_json_text(a.get("flywheel.metadata"))
        metadata = own_metadata if isinstance(own_metadata, dict) else {}
        stop_reason = _first(a, "flywheel.stop_reason")
    elif exchange is not None:
        input_value, output_value, info = exchange
        metadata = {"anthropic": info}
        stop_reason = output_value.get("stop_reason")
        model = output_value.get("model") or model
        raw_usage = output_value["usage"]
        usage.input = _int(raw_usage.get("input_tokens"))
        usage.output = _int(raw_usage.get("output_tokens"))
        usage.cache_read = _int(raw_usage.get("cache_read_input_tokens"))
        usage.cache_creation = _int(raw_usage.get("cache_creation_input_tokens"))
    else:
        metadata = {}
        if kind == "llm":
            input_value, output_value, stop_reason = _llm_payloads(span, a, str(model) if model else None)
        elif kind == "tool":
            input_value, output_value = _tool_payloads(a)
        elif kind == "retrieval":
            input_value = openinference.value(a, "input") or a.get("gen_ai.retrieval.query.text")
            output_value = openinference.value(a, "output") or openinference.documents(a) or parse_json_text(
                a.get("gen_ai.retrieval.documents"))
        else:
            input_value = openinference.value(a, "input")
            output_value = openinference.value(a, "output")
            if input_value is None:
                input_value = parse_json_text(a.get("traceloop.entity.input"))
            if output_value is None:
                output_value = parse_json_text(a.get("traceloop.entity.output"))
            if input_value is None and output_value is None and "gen_ai.input.messages" in a:
                input_value = parse_json_text(a.get("gen_ai.input.messages"))
                output_value = parse_json_text(a.get("gen_ai.output.messages"))
    if not own:
        otel: dict[str, Any] = {"kind": KIND_NAMES.get(span.kind, str(span.kind))}
        if span.scope:
            otel["scope"] = span.scope
        service = span.resource.get("service.name")
        if service:
            otel["service"] = service
        if name != span.name:
            otel["name"] = span.name
        leftovers = leftover_attributes(a)
        if leftovers:
            otel["attributes"] = leftovers
        metadata["otel"] = otel
        metadata["imported"] = {"format": options.source}
    if kind != "llm" and not own:
        # an agent span's usage is its calls' sum: counting it again would double the trace's tokens
        if usage.input is not None or usage.output is not None:
            metadata.setdefault("usage", {"input_tokens": usage.input, "output_tokens": usage.output})
        usage = _Usage()
        model = None
    cost = usage.cost
    if cost is None and kind == "llm" and model:
        cost = cost_usd(str(model), input_tokens=usage.input, output_tokens=usage.output,
                        cache_read_tokens=usage.cache_read, cache_creation_tokens=usage.cache_creation,
                        overrides=options.prices)
    service = span.resource.get("service.name")
    project = options.project or _first(a, "flywheel.project") or (
        service if isinstance(service, str) and service and not service.startswith("unknown_service")
        else None) or options.default_project
    tags = a.get("flywheel.tags", a.get("tag.tags"))
    tags = parse_json_text(tags)
    limit = options.max_payload_bytes
    # Every value here was built from the span's strings: when they are small together, no field can be
    # over the limit (a character is at most 6 bytes of JSON), and measuring each one would be wasted work.
    size = sum(len(v) for v in a.values() if type(v) is str)
    size += sum(len(v) for e in span.events for v in e.attributes.values() if type(v) is str)
    limited = bounded if size * 6 + 4096 > limit else _as_is
    file = _first(a, "code.file.path", "code.filepath")
    return SpanRecord(
        id=str(_first(a, "flywheel.span.id") or span.span_id),
        trace_id=span.trace_id,
        parent_id=(a.get("flywheel.parent.id") or None) if "flywheel.parent.id" in a else span.parent_span_id,
        name=name,
        type=kind,
        start_time=span.start_ns / 1e9,
        end_time=span.end_ns / 1e9,
        project=str(project),
        input=limited(input_value, limit),
        output=limited(output_value, limit),
        error=limited(_error(span, a), limit),
        tags=[str(t) for t in tags] if isinstance(tags, list | tuple) else [],
        metadata=limited(metadata, limit),
        module=module,
        qualname=qualname,
        file=str(file) if file else None,
        line=_int(_first(a, "code.line.number", "code.lineno")),
        model=str(model) if model else None,
        input_tokens=usage.input,
        output_tokens=usage.output,
        cache_read_tokens=usage.cache_read,
        cache_creation_tokens=usage.cache_creation,
        cost_usd=cost,
        stop_reason=str(stop_reason) if stop_reason else None,
    )


def _as_is(value: Any, limit: int) -> Any:
    return value


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept (what ``input.value`` attributes hold)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
