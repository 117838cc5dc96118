"""OpenTelemetry GenAI semantic conventions, both generations, as Messages-API-shaped data.

* The current generation: ``gen_ai.provider.name``; ``gen_ai.input.messages`` / ``gen_ai.output.messages``
  / ``gen_ai.system_instructions`` as JSON (on the span or on a
  ``gen_ai.client.inference.operation.details`` event), messages made of typed ``parts``.
* The older one: ``gen_ai.system``; ``gen_ai.prompt.N.role/content`` and ``gen_ai.completion.N.*``
  attributes (OpenLLMetry's), or the ``gen_ai.content.prompt`` / ``gen_ai.content.completion`` span
  events, or the ``gen_ai.{system,user,assistant,tool}.message`` and ``gen_ai.choice`` events.

Messages come out as the Anthropic Messages API shapes them (``{"role", "content": [blocks]}``, the
system prompt apart, tool results as ``tool_result`` blocks in a user turn), which is what the CLI's
views and the analysis rules read, whatever provider made them.
"""

from __future__ import annotations

from typing import Any

from pytest_flywheel.interop.flat import has_prefix, parse_json_text, unflatten
from pytest_flywheel.interop.otel_span import OtelEvent

Block = dict[str, Any]


def _part_block(part: Any) -> Block | None:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": str(part.get("content", part.get("text", "")))}
    if kind == "tool_call":
        arguments = parse_json_text(part.get("arguments"))
        return {"type": "tool_use", "id": part.get("id"), "name": part.get("name"),
                "input": arguments if arguments is not None else {}}
    if kind == "tool_call_response":
        result = part.get("response", part.get("result"))
        return {"type": "tool_result", "tool_use_id": part.get("id"), "content": parse_json_text(result)}
    if kind == "reasoning":
        return {"type": "thinking", "thinking": str(part.get("content", ""))}
    return dict(part)  # media and provider-specific parts, kept as they came


def _content_blocks(content: Any) -> list[Block]:
    """Message content in any of the shapes instrumentations write, as a list of blocks."""
    content = parse_json_text(content)
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, dict):
        content = [content]
    blocks: list[Block] = []
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and item.get("type") in ("text", "tool_use", "tool_result", "image",
                                                               "thinking", "document"):
                if item.get("type") == "text" and "text" not in item and "content" in item:
                    blocks.append({"type": "text", "text": str(item["content"])})
                else:
                    blocks.append(item)  # already Messages API blocks (Anthropic instrumentations)
            else:
                block = _part_block(item)
                if block is not None:
                    blocks.append(block)
    return blocks


def to_messages(raw: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """(system prompt, messages) from a list of ``{"role", "parts" | "content", ...}`` messages."""
    raw = parse_json_text(raw)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return None, []
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in raw:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "user")
        if "parts" in message:
            blocks = [b for b in (_part_block(p) for p in message.get("parts") or []) if b is not None]
        else:
            blocks = _content_blocks(message.get("content"))
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict):
                    function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
                    arguments = parse_json_text(function.get("arguments"))
                    blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
                                   "input": arguments if arguments is not None else {}})
        if role == "system":
            system.extend(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
            continue
        if role == "tool":
            tool_use_id = message.get("tool_call_id") or message.get("id")
            blocks = [
                b if b.get("type") == "tool_result"
                else {"type": "tool_result", "tool_use_id": tool_use_id, "content": b.get("text", b)}
                for b in blocks
            ]
            role = "user"
        messages.append({"role": role, "content": blocks})
    return ("\n\n".join(system) if system else None), messages


def system_text(raw: Any) -> str | None:
    """``gen_ai.system_instructions`` (a list of parts, or text) as one string."""
    raw = parse_json_text(raw)
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    blocks = _content_blocks(raw)
    texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
    return "\n\n".join(texts) if texts else None


_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def conversation(attributes: dict[str, Any], events: list[OtelEvent]) -> tuple[
        str | None, list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """(system, input messages, output messages, finish reason) from whichever generation is present."""
    finish: str | None = None
    details = next((e.attributes for e in events if e.name == "gen_ai.client.inference.operation.details"), {})
    source = attributes if "gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes \
        else details
    if source:
        system, inputs = to_messages(source.get("gen_ai.input.messages"))
        raw_out = parse_json_text(source.get("gen_ai.output.messages"))
        _, outputs = to_messages(raw_out)
        explicit = system_text(source.get("gen_ai.system_instructions"))
        for message in raw_out if isinstance(raw_out, list) else []:
            if isinstance(message, dict) and message.get("finish_reason"):
                finish = str(message["finish_reason"])
        return explicit or system, inputs, outputs, finish
    if has_prefix(attributes, "gen_ai.prompt.") or has_prefix(attributes, "gen_ai.completion."):
        return _indexed(attributes)
    return _from_events(events)


def _indexed(attributes: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]], list[dict[str, Any]],
                                                  str | None]:
    prompts = unflatten(attributes, "gen_ai.prompt.")
    completions = unflatten(attributes, "gen_ai.completion.")
    raw_in = [_indexed_message(item) for item in prompts if isinstance(item, dict)]
    raw_out = [_indexed_message(item, default_role="assistant") for item in completions if isinstance(item, dict)]
    system, inputs = to_messages(raw_in)
    _, outputs = to_messages(raw_out)
    finish = next((str(item["finish_reason"]) for item in completions
                   if isinstance(item, dict) and item.get("finish_reason")), None)
    return system, inputs, outputs, finish


def _indexed_message(item: dict[str, Any], default_role: str = "user") -> dict[str, Any]:
    calls = item.get("tool_calls")
    message: dict[str, Any] = {"role": item.get("role") or default_role, "content": item.get("content")}
    if isinstance(calls, list):
        message["tool_calls"] = [
            {"id": c.get("id"), "function": {"name": c.get("name"), "arguments": c.get("arguments")}}
            for c in calls if isinstance(c, dict)
        ]
    if item.get("tool_call_id"):
        message["tool_call_id"] = item["tool_call_id"]
    return message


def _from_events(events: list[OtelEvent]) -> tuple[str | None, list[dict[str, Any]], list[dict[str, Any]],
                                                   str | None]:
    raw_in: list[Any] = []
    raw_out: list[Any] = []
    finish: str | None = None
    for event in events:
        attrs = event.attributes
        if event.name == "gen_ai.content.prompt":
            prompt = parse_json_text(attrs.get("gen_ai.prompt"))
            raw_in.extend(prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}])
        elif event.name == "gen_ai.content.completion":
            completion = parse_json_text(attrs.get("gen_ai.completion"))
            raw_out.extend(completion if isinstance(completion, list)
                           else [{"role": "assistant", "content": completion}])
        elif event.name in _EVENT_ROLES:
            body = parse_json_text(attrs.get("gen_ai.event.content", attrs.get("content")))
            message = dict(body) if isinstance(body, dict) else {"content": body}
            message.setdefault("role", _EVENT_ROLES[event.name])
            if "id" in attrs and "tool_call_id" not in message:
                message["tool_call_id"] = attrs["id"]
            raw_in.append(message)
        elif event.name == "gen_ai.choice":
            body = parse_json_text(attrs.get("gen_ai.event.content", attrs.get("message")))
            if isinstance(body, dict) and isinstance(body.get("message"), dict):
                finish = finish or body.get("finish_reason")
                body = body["message"]
            message = dict(body) if isinstance(body, dict) else {"content": body}
            message.setdefault("role", "assistant")
            finish = finish or attrs.get("finish_reason")
            raw_out.append(message)
    system, inputs = to_messages(raw_in)
    _, outputs = to_messages(raw_out)
    return system, inputs, outputs, (str(finish) if finish else None)
