"""A captured trace's spans as a case's cassette.

Each ``llm`` span recorded by ``track_anthropic`` becomes the HTTP interaction the Anthropic SDK will
make again: ``POST {base_url}/v1/messages`` with the request keyword arguments as the SDK sends them
(``extra_body`` merged in, ``"stream": true`` for streamed calls, client-side options such as
``timeout`` and ``extra_headers`` left out), answered by the recorded response JSON, or by the event
stream rebuilt from it for a streamed call. A call that failed with an API error is answered by that
error's status and body (with ``x-should-retry: false``, so the SDK raises it at once, as it did in
production after its retries). Each ``tool`` span becomes a tool interaction:
``{tool, arguments, result}`` or ``{tool, arguments, error: {type, message}}``.

Spans nested inside a tool call are left out: on replay the tool returns its recorded result without
running, so whatever it did inside never happens again.

A span whose payload tracing had to cut short (over ``max_payload_bytes``) or could not hold as JSON
cannot be replayed faithfully: writing the cassette fails with a
:class:`~pytest_flywheel.replay.errors.CassetteWriteError` that says which span and what to do, and
nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_flywheel.canonical import REPR_KEY, TRUNCATED_KEY
from pytest_flywheel.files import write_atomic
from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay.cassette_checks import RECORDED_RUN_KEY
from pytest_flywheel.replay.cassette_file import FORMAT_VERSION, TOOL_INTERACTIONS_KEY
from pytest_flywheel.replay.cassette_file import dump_cassette_data as _dump
from pytest_flywheel.replay.errors import CassetteWriteError
from pytest_flywheel.replay.sse import sse_body
from pytest_flywheel.store.records import SpanRecord

DEFAULT_BASE_URL = "https://api.anthropic.com"

#: Keyword arguments of ``messages.create`` / ``messages.stream`` that configure the client call
#: rather than go into the request body.
CLIENT_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout", "betas"})

#: Status codes of the SDK's API error classes, to answer a recorded failure the same way again.
ERROR_STATUS = {
    "BadRequestError": (400, "invalid_request_error"),
    "AuthenticationError": (401, "authentication_error"),
    "PermissionDeniedError": (403, "permission_error"),
    "NotFoundError": (404, "not_found_error"),
    "RequestTooLargeError": (413, "request_too_large"),
    "UnprocessableEntityError": (422, "invalid_request_error"),
    "RateLimitError": (429, "rate_limit_error"),
    "InternalServerError": (500, "api_error"),
    "ServiceUnavailableError": (503, "api_error"),
    "DeadlineExceededError": (504, "api_error"),
    "OverloadedError": (529, "overloaded_error"),
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


def _compact(value: Any) -> str:
    # The SDK's own encoding: no spaces, non-ASCII text as is.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def request_body(kwargs: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """The JSON body the SDK sends for these ``messages.create``/``messages.stream`` keyword arguments."""
    body = {key: value for key, value in kwargs.items() if key not in CLIENT_OPTIONS}
    extra = kwargs.get("extra_body")
    if isinstance(extra, dict):
        body.update(extra)
    if stream:
        body["stream"] = True
    return body


# The markers tracing leaves in a payload it cut short or could not hold as JSON
# (pytest_flywheel.tracing.serialize); spelled out here so that writing a cassette imports no tracing.
_TRUNCATED_KEY = TRUNCATED_KEY
_REPR_KEY = REPR_KEY


def _marker_in(value: Any) -> dict[str, Any] | None:
    """The first truncation or repr marker inside a traced value, or None."""
    if isinstance(value, dict):
        if _TRUNCATED_KEY in value or _REPR_KEY in value:
            return value
        found = (_marker_in(item) for item in value.values())
    elif isinstance(value, list):
        found = (_marker_in(item) for item in value)
    else:
        return None
    return next((marker for marker in found if marker is not None), None)


def _check_replayable(span: SpanRecord, what: str, value: Any) -> None:
    marker = _marker_in(value)
    if marker is None:
        return
    if _TRUNCATED_KEY in marker:
        detail = marker[_TRUNCATED_KEY] if isinstance(marker[_TRUNCATED_KEY], dict) else {}
        if "bytes" in detail:
            problem = (
                f"was cut short when it was traced ({detail['bytes']} bytes, over the {detail.get('limit')}-byte "
                "limit); raise [tool.flywheel] max_payload_bytes (or FLYWHEEL_MAX_PAYLOAD) and trace the call again"
            )
        else:
            problem = (
                f"was cut short when it was traced ({', '.join(f'{k}: {v}' for k, v in detail.items())}); "
                "trace a smaller call"
            )
    else:
        problem = (
            f"held something JSON cannot hold, recorded as {str(marker[_REPR_KEY])[:80]!r}; make the tool take "
            "and return JSON data (or hide the argument with ignore_arguments) and trace the call again"
        )
    raise CassetteWriteError(
        f"Span {span.name!r} ({span.id}) of trace {span.trace_id} cannot be replayed from a cassette: its {what} "
        f"{problem}."
    )


def _without_reprs(value: Any) -> Any:
    # A marked repr in a tool's arguments (a client object, say) is matched loosely on replay; only
    # cut-short arguments cannot be matched at all.
    if isinstance(value, dict):
        return None if _REPR_KEY in value else {key: _without_reprs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_reprs(item) for item in value]
    return value


def _is_anthropic_call(span: SpanRecord) -> bool:
    return (
        span.type == "llm"
        and isinstance(span.metadata.get("anthropic"), dict)
        and isinstance(span.input, dict)
    )


def _nested_in_tool(span: SpanRecord, by_id: dict[str, SpanRecord]) -> bool:
    seen: set[str] = set()
    parent_id = span.parent_id
    while parent_id and parent_id in by_id and parent_id not in seen:
        seen.add(parent_id)
        parent = by_id[parent_id]
        if parent.type == "tool":
            return True
        parent_id = parent.parent_id
    return False


def _error_name(error: dict[str, Any]) -> str:
    return str(error.get("type") or "").rsplit(".", 1)[-1]


def http_interaction(span: SpanRecord) -> dict[str, Any] | None:
    """The vcrpy interaction for one ``track_anthropic`` span, or None when it cannot be replayed over
    HTTP (a connection failure, or a call with neither a response nor an API error)."""
    info: dict[str, Any] = span.metadata["anthropic"]
    stream = bool(info.get("stream"))
    endpoint = str(info.get("endpoint") or "messages.create")
    base_url = str(info.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    uri = f"{base_url}/v1/messages" + ("?beta=true" if endpoint.startswith("beta.") else "")
    body = request_body(span.input, stream=stream)
    request = {
        "method": "POST",
        "uri": uri,
        "body": _compact(body),
        "headers": {"content-type": ["application/json"]},
    }
    if span.error is None and isinstance(span.output, dict):
        if stream:
            headers = {"content-type": ["text/event-stream; charset=utf-8"]}
            text = sse_body(span.output)
        else:
            headers = {"content-type": ["application/json"]}
            text = _compact(span.output)
        status = 200
    elif span.error is not None and _error_name(span.error) in ERROR_STATUS:
        status, error_type = ERROR_STATUS[_error_name(span.error)]
        headers = {"content-type": ["application/json"], "x-should-retry": ["false"]}
        message = str(span.error.get("message") or "")
        text = _compact({"type": "error", "error": {"type": error_type, "message": message}})
    else:
        return None
    response = {
        "status": {"code": status, "message": _REASONS.get(status, "")},
        "headers": headers,
        "body": {"string": text},
    }
    return {"request": request, "response": response}


def tool_interaction(span: SpanRecord) -> dict[str, Any]:
    """The tool interaction for one ``@track(type="tool")`` span."""
    arguments = span.input if isinstance(span.input, dict) else {"input": span.input}
    interaction: dict[str, Any] = {"tool": span.name, "arguments": arguments}
    if span.error is not None:
        interaction["error"] = {
            "type": str(span.error.get("type") or "Exception"),
            "message": str(span.error.get("message") or ""),
        }
    else:
        interaction["result"] = span.output
    return interaction


def redact_interaction(interaction: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """An HTTP interaction with secrets scrubbed from URL, headers and bodies, request and response."""
    request, response = dict(interaction["request"]), dict(interaction["response"])
    request["uri"] = redactor.url(request["uri"])
    request["headers"] = redactor.headers(request.get("headers") or {})
    if isinstance(request.get("body"), str | bytes):
        request["body"] = redactor.body(request["body"])
    response["headers"] = redactor.headers(response.get("headers") or {})
    body = dict(response.get("body") or {})
    if isinstance(body.get("string"), str | bytes):
        body["string"] = redactor.body(body["string"])
    response["body"] = body
    return {"request": request, "response": response}


def redact_tool_interaction(interaction: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """A tool interaction with its arguments, result and error message scrubbed."""
    redacted: dict[str, Any] = {
        "tool": interaction["tool"],
        "arguments": redactor.value(interaction["arguments"]),
    }
    if "error" in interaction:
        error = interaction["error"]
        redacted["error"] = {"type": error["type"], "message": redactor.text(str(error.get("message") or ""))}
    else:
        redacted["result"] = redactor.value(interaction.get("result"))
    return redacted


def case_cassette_data(spans: Iterable[SpanRecord], *, redactor: Redactor | None = None) -> dict[str, Any]:
    """The cassette (as data) for a trace's spans: HTTP interactions and tool interactions, in call order."""
    redactor = redactor or Redactor()
    ordered = sorted(spans, key=lambda span: span.start_time)
    by_id = {span.id: span for span in ordered}
    interactions: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    for span in ordered:
        if _nested_in_tool(span, by_id):
            continue
        if _is_anthropic_call(span):
            _check_replayable(span, "request", span.input)
            _check_replayable(span, "response", span.output)
            interaction = http_interaction(span)
            if interaction is not None:
                interactions.append(redact_interaction(interaction, redactor))
        elif span.type == "tool":
            _check_replayable(span, "result", span.output)
            _check_replayable(span, "arguments", _without_reprs(span.input))
            tools.append(redact_tool_interaction(tool_interaction(span), redactor))
    data: dict[str, Any] = {"version": FORMAT_VERSION, "interactions": interactions}
    if tools:
        data[TOOL_INTERACTIONS_KEY] = tools
    roots = [span for span in ordered if not span.parent_id or span.parent_id not in by_id]
    if len(roots) == 1 and roots[0].end_time >= roots[0].start_time > 0:
        # what the traced run took: replay checks latency against it, not against its own time
        data[RECORDED_RUN_KEY] = {"latency_ms": round((roots[0].end_time - roots[0].start_time) * 1000.0, 1)}
    return data


def write_case_cassette(spans: list[SpanRecord], path: Path, *, redactor: Redactor | None = None) -> Path:
    """Write the cassette of a case captured from these spans (one trace's) to ``path``, atomically.

    ``redactor`` (normally :func:`~pytest_flywheel.redaction.build_redactor` of the project's settings)
    scrubs every request and response, header and body, and every tool argument and result, before
    anything is written; without one, the built-in secret scrubbing still applies. Returns ``path``.
    """
    return write_atomic(Path(path), _dump(case_cassette_data(spans, redactor=redactor)))
