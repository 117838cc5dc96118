"""What a cassette must hold for vcrpy and the replay to use it, each fault with its line.

vcrpy trusts a cassette's shape: a missing ``response`` or a number where a body should be ends in a
``KeyError`` or ``TypeError`` deep in its stubs, and a response without a status code looks to the
replay as though every recorded response had been played already. A hand-edited or merged cassette is
therefore checked here first, and each fault becomes ``path:line: where: what is wrong``, with what to
do next. ``flywheel suite validate`` runs the same checks over every case's cassette.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.yaml_reader import PathKey, describe

TOOL_INTERACTIONS_KEY = "tool_interactions"
#: What the agent's run took when the cassette was recorded: ``{latency_ms: N}``.
RECORDED_RUN_KEY = "recorded_run"
FIX = "fix it, or record the cassette again (--flywheel-record=rewrite)"

LineOf = Callable[[Sequence[PathKey]], int]


@dataclass(frozen=True)
class CassetteProblem:
    """One fault in a cassette: a 1-based line, where in the data (``interactions[0].response``, or ''
    for the file as a whole), what is wrong."""

    line: int
    field: str
    message: str


def field_name(path: Sequence[PathKey]) -> str:
    """``("interactions", 0, "response")`` → ``interactions[0].response``."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def cassette_problems(data: Any, line_of: LineOf, *, limit: int = 20) -> list[CassetteProblem]:
    """The faults in a cassette's data (as read), the first ``limit`` of them in file order; empty when
    vcrpy can replay it."""
    found = [
        CassetteProblem(line_of(path), field_name(path), message)
        for path, message in itertools.islice(_faults(data), limit)
    ]
    return sorted(found, key=lambda problem: problem.line)


def _faults(data: Any) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    if not isinstance(data, dict):
        yield (
            (),
            (
                f"expected a vcrpy cassette (a mapping with an 'interactions' list), found {describe(data)}; "
                + FIX
            ),
        )
        return
    interactions = data.get("interactions", [])
    if not isinstance(interactions, list):
        yield ("interactions",), f"expected a list of interactions, found {describe(interactions)}; {FIX}"
    else:
        for index, interaction in enumerate(interactions):
            yield from _interaction_faults(interaction, ("interactions", index))
    run = data.get(RECORDED_RUN_KEY)
    if run is not None:
        latency = run.get("latency_ms") if isinstance(run, dict) else None
        if not isinstance(run, dict) or isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            yield (RECORDED_RUN_KEY,), (
                f"expected {{latency_ms: <milliseconds>}}, the run's recorded latency, found {describe(run)}; {FIX}"
            )
    tools = data.get(TOOL_INTERACTIONS_KEY)
    if tools is not None and not isinstance(tools, list):
        yield (TOOL_INTERACTIONS_KEY,), f"expected a list of tool calls, found {describe(tools)}; {FIX}"
    elif tools:
        for index, item in enumerate(tools):
            yield from _tool_faults(item, (TOOL_INTERACTIONS_KEY, index))


def _interaction_faults(
    interaction: Any, here: tuple[PathKey, ...]
) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    if not isinstance(interaction, dict):
        yield (
            here,
            f"expected an interaction (a mapping with request and response), found {describe(interaction)}; {FIX}",
        )
        return
    for part in ("request", "response"):
        if part not in interaction:
            yield here, f"the interaction has no '{part}'; {FIX}"
        elif not isinstance(interaction[part], dict):
            yield (*here, part), f"expected a mapping, found {describe(interaction[part])}; {FIX}"
    request, response = interaction.get("request"), interaction.get("response")
    if isinstance(request, dict):
        yield from _request_faults(request, (*here, "request"))
    if isinstance(response, dict):
        yield from _response_faults(response, (*here, "response"))


def _request_faults(
    request: dict[Any, Any], here: tuple[PathKey, ...]
) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    for name in ("method", "uri"):
        value = request.get(name)
        if not isinstance(value, str) or not value:
            shown = "is missing" if name not in request else f"must be text, found {describe(value)}"
            yield (*here, name), f"the request's {name} {shown}; {FIX}"
    unknown = [key for key in request if key not in ("method", "uri", "body", "headers", "parsed_body")]
    if unknown:
        yield (
            (*here, unknown[0]),
            f"unknown request field {unknown[0]!r} (vcrpy reads method, uri, body, headers); {FIX}",
        )
    headers = request.get("headers", {})
    yield from _header_faults(headers, (*here, "headers"))
    body = request.get("body")
    if isinstance(body, str | bytes):
        if isinstance(headers, dict):
            yield from _content_faults(body, headers, (*here, "body"), "request")
    elif body is not None and not hasattr(body, "read") and not hasattr(body, "__next__"):
        # (a file or an iterator: what vcrpy's Python tags for old recorded bodies give)
        yield (*here, "body"), f"the request body must be text, found {describe(body)}; {FIX}"


def _response_faults(
    response: dict[Any, Any], here: tuple[PathKey, ...]
) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    status = response.get("status")
    if not isinstance(status, dict):
        shown = "is missing" if "status" not in response else f"must be a mapping, found {describe(status)}"
        yield (
            (*here, "status"),
            f"the response status {shown} (expected status: {{code: 200, message: OK}}); {FIX}",
        )
    else:
        code = status.get("code")
        if "code" not in status:
            yield (*here, "status"), f"the response status has no code (such as code: 200); {FIX}"
        elif type(code) is not int or not 100 <= code <= 599:
            yield (
                (*here, "status", "code"),
                f"the status code must be a number from 100 to 599, found {describe(code)}; {FIX}",
            )
        message = status.get("message")
        if message is not None and not (isinstance(message, str) and message.isascii()):
            yield (
                (*here, "status", "message"),
                f"the status message must be ASCII text, found {describe(message)}; {FIX}",
            )
    headers = response.get("headers", {})
    yield from _header_faults(headers, (*here, "headers"))
    if "body" not in response and "parsed_body" not in response:
        return
    body = response.get("body", {"string": ""})
    if not isinstance(body, dict) or "string" not in body:
        yield (
            (*here, "body"),
            f"the response body must be a mapping with 'string' (body: {{string: ...}}), found {describe(body)}; {FIX}",
        )
        return
    text = body["string"]
    if not isinstance(text, str | bytes):
        yield (*here, "body", "string"), f"the response body must be text, found {describe(text)}; {FIX}"
    elif isinstance(headers, dict):
        yield from _content_faults(text, headers, (*here, "body", "string"), "response")


def _header_faults(headers: Any, here: tuple[PathKey, ...]) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    if not isinstance(headers, dict):
        yield here, f"headers must be a mapping of names to lists of values, found {describe(headers)}; {FIX}"
        return
    for name, values in headers.items():
        if not isinstance(name, str):
            yield (*here, name), f"a header name must be text, found {describe(name)}; {FIX}"
        elif not _header_values(values):
            yield (
                (*here, name),
                f"a header's value must be text or a list of text, found {describe(values)}; {FIX}",
            )


def _header_values(values: Any) -> bool:
    if isinstance(values, str):
        return True
    return isinstance(values, list) and all(isinstance(value, str) for value in values)


def header(headers: Mapping[Any, Any], name: str) -> str | None:
    """The first value of the header ``name`` (any case), or None."""
    for key, values in headers.items():
        if isinstance(key, str) and key.lower() == name:
            if isinstance(values, str):
                return values
            if isinstance(values, list) and values and isinstance(values[0], str):
                return values[0]
    return None


def _content_faults(
    body: str | bytes, headers: Mapping[Any, Any], here: tuple[PathKey, ...], side: str
) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    content_type = (header(headers, "content-type") or "").split(";", 1)[0].strip().lower()
    encoding = (header(headers, "content-encoding") or "identity").strip().lower()
    if not body or encoding != "identity":
        return
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            json.loads(body)
        except ValueError as exc:  # (UnicodeDecodeError included)
            reason = str(exc).splitlines()[0]
            yield (
                here,
                f"the {side} body is not valid JSON for its content-type {content_type} ({reason}); {FIX}",
            )


def _tool_faults(item: Any, here: tuple[PathKey, ...]) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    if not isinstance(item, dict) or not isinstance(item.get("tool"), str):
        yield here, f"expected a mapping with a 'tool' name, found {describe(item)}; {FIX}"
        return
    if not isinstance(item.get("arguments", {}), dict):
        yield (*here, "arguments"), f"'arguments' must be a mapping of parameter names to values; {FIX}"
    if ("result" in item) == ("error" in item):
        yield here, f"expected exactly one of 'result' or 'error'; {FIX}"
    error = item.get("error")
    if "error" in item and not (isinstance(error, dict) and isinstance(error.get("type"), str)):
        yield (*here, "error"), f"'error' must be a mapping with 'type' and 'message'; {FIX}"
