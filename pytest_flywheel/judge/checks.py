"""Deterministic assertions: checked locally, no judge call, no verdict cache.

A suite case's assertion is either a sentence (for the judge) or a one-key mapping (a check here):

=====================  ==============================================================================
``contains: TEXT``     the output, rendered as text, contains TEXT (a list: every item)
``not_contains: TEXT`` it contains none of them
``regex: PATTERN``     ``re.search`` finds PATTERN in the output text (use ``(?i)`` etc. for flags)
``json_schema: {...}`` the output (parsed as JSON when it is a string) is valid under the schema
``tool_called: NAME``  the trajectory has a tool call named NAME; with ``args: {...}`` (next to it, or
                       ``tool_called: {name: NAME, args: {...}}``) one whose arguments include those
                       (a subset match: nested mappings are matched as subsets too)
``max_latency_ms: N``  the case ran in at most N milliseconds
``max_cost_usd: X``    its LLM calls cost at most X US dollars
``custom: {kind: K}``  a kind of your own, answered by a ``pytest_flywheel_check`` hook implementation
                       (it gets ``name=K`` and the whole mapping as ``spec``, with your own parameters)
=====================  ==============================================================================

The output "as text": a string as it is; an Anthropic message (object or JSON) as the text of its
text blocks; anything else as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.canonical import json_data
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.judge.trajectory import tool_calls

CHECK_KINDS: tuple[str, ...] = (
    "contains",
    "not_contains",
    "regex",
    "json_schema",
    "tool_called",
    "max_latency_ms",
    "max_cost_usd",
    "custom",
)


class CheckSpecError(FlywheelError, ValueError):
    """A check mapping that is not a valid check (unknown kind, wrong value type, bad regex or schema)."""


class CheckError(FlywheelError):
    """A check that cannot be evaluated, e.g. ``max_latency_ms`` when the latency was not measured."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one deterministic check; ``label`` is how reports name the check."""

    passed: bool
    reason: str
    label: str


def is_check(assertion: object) -> bool:
    """True for a check mapping, False for a sentence for the judge."""
    return isinstance(assertion, dict)


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(json_data(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _split(spec: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """(kind, value, options) of a check mapping."""
    if not isinstance(spec, dict) or not spec:
        raise CheckSpecError(
            f"A check must be a mapping with one of {', '.join(CHECK_KINDS)} as key; found {_short(spec)}."
        )
    kinds = [key for key in spec if key in CHECK_KINDS]
    if len(kinds) > 1:
        raise CheckSpecError(f"The check {_short(spec)} names {len(kinds)} kinds ({', '.join(kinds)}); "
                             "write one check per list item.")
    if not kinds:
        if len(spec) == 1:
            kind = next(iter(spec))
            return kind, spec[kind], {}
        raise CheckSpecError(
            f"The check {_short(spec)} has no known kind; expected one of {', '.join(CHECK_KINDS)}."
        )
    kind = kinds[0]
    options = {key: value for key, value in spec.items() if key != kind}
    allowed = {"args"} if kind == "tool_called" else set()
    extra = sorted(set(options) - allowed)
    if extra:
        raise CheckSpecError(
            f"The {kind} check {_short(spec)} has unexpected keys {', '.join(extra)}"
            + ("; only args may go next to tool_called." if kind == "tool_called" else "; it takes one value.")
        )
    return kind, spec[kind], options


def _tool_spec(value: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    name: Any
    args: Any = options.get("args")
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"name", "args"})
        if unknown or "name" not in value:
            raise CheckSpecError(
                f"tool_called: {_short(value)}: expected a tool name, or a mapping with name and optional "
                f"args{'; unexpected keys ' + ', '.join(unknown) if unknown else ''}."
            )
        name, args = value["name"], value.get("args", args)
    else:
        name = value
    if not isinstance(name, str) or not name:
        raise CheckSpecError(f"tool_called: expected a tool name (a string), found {_short(name)}.")
    if args is not None and not isinstance(args, dict):
        raise CheckSpecError(f"tool_called {name}: args must be a mapping of argument names, found {_short(args)}.")
    return name, args


def _custom_check(value: Any, custom: Callable[[str, dict[str, Any]], CheckResult | None] | None) -> CheckResult:
    """``custom: {kind: K, ...}``: a check a plugin implements (``pytest_flywheel_check``)."""
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str) or not value["kind"]:
        raise CheckSpecError(f"A custom check is `custom: {{kind: NAME, ...}}`; found custom: {_short(value)}.")
    name = value["kind"]
    result = custom(name, dict(value)) if custom is not None else None
    if result is None:
        raise CheckSpecError(
            f"No plugin answers the custom check {name!r}: implement pytest_flywheel_check(name, spec, output, "
            "trajectory) in a conftest.py or plugin and return a CheckResult for it."
        )
    if not isinstance(result, CheckResult):
        raise CheckSpecError(
            f"The pytest_flywheel_check implementation for {name!r} returned {type(result).__name__}; return "
            "a pytest_flywheel.judge.checks.CheckResult."
        )
    return result


def check_label(spec: dict[str, Any]) -> str:
    """A short name for a check, e.g. ``contains: 'refund'`` or ``tool_called: lookup(order_id='A1')``."""
    kind, value, options = _split(spec)
    if kind == "custom" and isinstance(value, dict):
        return f"custom: {value.get('kind')}"
    if kind == "tool_called":
        name, args = _tool_spec(value, options)
        inner = ", ".join(f"{key}={json_data(arg)!r}" for key, arg in (args or {}).items())
        return f"tool_called: {name}({inner})" if args else f"tool_called: {name}"
    if kind == "json_schema":
        return "json_schema"
    return f"{kind}: {_short(value)!r}" if isinstance(value, str) else f"{kind}: {_short(value)}"


def _message_text(message: Any) -> str | None:
    """The text of an Anthropic message (SDK object or JSON), or None when ``message`` is not one."""
    # only a real message: a JSON output that merely has a "content" list is checked as JSON
    kind = message.get("type") if isinstance(message, dict) else getattr(message, "type", None)
    if kind != "message":
        return None
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else getattr(block, "type", None)
        if kind != "text":
            continue
        text = block.get("text") if isinstance(block, dict) else getattr(block, "text", None)
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def output_text(output: Any) -> str:
    """The output rendered as text (see the module docstring)."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    text = _message_text(output)
    if text is not None:
        return text
    return json.dumps(json_data(output), ensure_ascii=False, sort_keys=True)


def _texts(kind: str, value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise CheckSpecError(f"{kind}: expected a non-empty string or a list of them, found {_short(value)}.")
    return items


def _number(kind: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CheckSpecError(f"{kind}: expected a number of at least 0, found {_short(value)}.")
    return float(value)


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _subset(value, actual[key]) for key, value in expected.items()
        )
    return bool(json_data(expected) == json_data(actual))


def _check_json_schema(schema: Any, output: Any, label: str) -> CheckResult:
    import jsonschema  # only when a schema check runs: it is not a cheap import

    if not isinstance(schema, dict):
        raise CheckSpecError(f"json_schema: expected a JSON Schema (a mapping), found {_short(schema)}.")
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise CheckSpecError(f"json_schema: the schema is not valid: {exc.message}.") from None
    document = output
    if isinstance(output, str):
        try:
            document = json.loads(output)
        except json.JSONDecodeError as exc:
            return CheckResult(False, f"the output is not JSON ({exc.msg} at character {exc.pos})", label)
    elif _message_text(output) is not None:
        try:
            document = json.loads(_message_text(output) or "")
        except json.JSONDecodeError as exc:
            return CheckResult(False, f"the message text is not JSON ({exc.msg} at character {exc.pos})", label)
    else:
        document = json_data(output)
    errors = sorted(validator_class(schema).iter_errors(document), key=lambda error: list(error.absolute_path))
    if not errors:
        return CheckResult(True, "the output matches the schema", label)
    first = errors[0]
    where = "/".join(str(part) for part in first.absolute_path) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return CheckResult(False, f"at {where}: {first.message}{more}", label)


def run_check(
    spec: dict[str, Any],
    *,
    output: Any,
    trajectory: list[dict[str, Any]] | None = None,
    latency_ms: float | None = None,
    cost_usd: float | None = None,
    custom: Callable[[str, dict[str, Any]], CheckResult | None] | None = None,
    latency_recorded: bool = False,
) -> CheckResult:
    """Evaluate one check mapping. ``custom(kind, spec)`` answers kinds not built in (the plugin passes
    the ``pytest_flywheel_check`` hook); an unknown kind it does not answer is a :class:`CheckSpecError`.
    ``latency_recorded`` says ``latency_ms`` is what the run took when its cassette was recorded.
    """
    kind, value, options = _split(spec)
    if kind == "custom":
        return _custom_check(value, custom)
    if kind not in CHECK_KINDS:
        result = custom(kind, spec) if custom is not None else None
        if result is None:
            raise CheckSpecError(
                f"Unknown check {kind!r} in {_short(spec)}; expected one of {', '.join(CHECK_KINDS)} "
                "(or a plugin implementing pytest_flywheel_check), or a sentence for the judge."
            )
        return result
    label = check_label(spec)
    if kind in ("contains", "not_contains"):
        text = output_text(output)
        needles = _texts(kind, value)
        missing = [needle for needle in needles if needle not in text]
        found = [needle for needle in needles if needle in text]
        if kind == "contains":
            if missing:
                return CheckResult(False, f"the output does not contain {', '.join(map(repr, missing))}", label)
            return CheckResult(True, f"the output contains {', '.join(map(repr, needles))}", label)
        if found:
            return CheckResult(False, f"the output contains {', '.join(map(repr, found))}", label)
        return CheckResult(True, f"the output contains none of {', '.join(map(repr, needles))}", label)
    if kind == "regex":
        if not isinstance(value, str) or not value:
            raise CheckSpecError(f"regex: expected a pattern (a string), found {_short(value)}.")
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise CheckSpecError(f"regex: {value!r} is not a valid regular expression: {exc}.") from None
        match = pattern.search(output_text(output))
        if match is None:
            return CheckResult(False, f"no match for /{value}/ in the output", label)
        return CheckResult(True, f"/{value}/ matches {_short(match.group(0), 60)!r}", label)
    if kind == "json_schema":
        return _check_json_schema(value, output, label)
    if kind == "tool_called":
        name, args = _tool_spec(value, options)
        calls = [call for call in tool_calls(trajectory or []) if call.get("name") == name]
        if not calls:
            names = sorted({str(call.get("name")) for call in tool_calls(trajectory or [])})
            seen = f"tools called: {', '.join(names)}" if names else "no tool was called"
            return CheckResult(False, f"{name} was not called ({seen})", label)
        if args is None:
            return CheckResult(True, f"{name} was called {len(calls)} time(s)", label)
        matching = [call for call in calls if _subset(args, call.get("arguments"))]
        if matching:
            return CheckResult(True, f"{name} was called with {_short(args)}", label)
        seen_args = "; ".join(_short(call.get("arguments"), 60) for call in calls[:3])
        return CheckResult(False, f"{name} was called, but never with {_short(args)} (got {seen_args})", label)
    if kind == "max_latency_ms":
        limit = _number(kind, value)
        if latency_ms is None:
            raise CheckError(f"The check {label} needs the case's latency, which was not measured.")
        verdict = latency_ms <= limit
        when = " when recorded" if latency_recorded else ""
        return CheckResult(verdict, f"took {latency_ms:.0f} ms{when} (limit {limit:g} ms)", label)
    # max_cost_usd
    limit = _number(kind, value)
    if cost_usd is None:
        raise CheckError(f"The check {label} needs the case's LLM cost, which was not measured.")
    return CheckResult(cost_usd <= limit, f"cost ${cost_usd:.6f} (limit ${limit:g})", label)
