"""OpenInference (Arize Phoenix's conventions): span kinds, flattened messages, documents, tools.

``openinference.span.kind`` says what a span is; ``input.value`` / ``output.value`` (with
``input.mime_type``) hold its input and output; an LLM span spells its messages out as
``llm.input_messages.N.message.role``, ``...message.content`` or ``...message.contents.M.message_content.*``
and ``...message.tool_calls.M.tool_call.function.{name,arguments}``; token counts are
``llm.token_count.{prompt,completion}`` (the prompt count includes cache reads and writes,
``llm.token_count.prompt_details.cache_{read,write}``).
"""

from __future__ import annotations

import json
from typing import Any

from pytest_flywheel.interop.flat import parse_json_text, unflatten
from pytest_flywheel.interop.genai import to_messages

#: openinference.span.kind -> the store's span type
KIND_TYPES = {
    "LLM": "llm",
    "EMBEDDING": "llm",
    "TOOL": "tool",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "GUARDRAIL": "guardrail",
}
#: and back, for the exporter
TYPE_KINDS = {"llm": "LLM", "tool": "TOOL", "retrieval": "RETRIEVER", "guardrail": "GUARDRAIL",
              "general": "CHAIN"}


def value(attributes: dict[str, Any], key: str) -> Any:
    """``input.value`` or ``output.value``, parsed when it holds JSON."""
    raw = attributes.get(f"{key}.value")
    if raw is None:
        return None
    mime = attributes.get(f"{key}.mime_type")
    if mime == "text/plain":
        return raw
    if mime == "application/json" and isinstance(raw, str):
        try:
            return json.loads(raw)  # a JSON string or number too: what the exporter wrote
        except ValueError:
            return raw
    return parse_json_text(raw)


def _message(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get("message"), dict):
        return None
    message = item["message"]
    converted: dict[str, Any] = {"role": message.get("role") or "user"}
    contents = message.get("contents")
    if isinstance(contents, list):
        parts: list[Any] = []
        for entry in contents:
            content = entry.get("message_content") if isinstance(entry, dict) else None
            if isinstance(content, dict):
                if content.get("type") == "text" or "text" in content:
                    parts.append({"type": "text", "text": content.get("text", "")})
                elif content.get("type") != "tool_use":  # tool calls are also listed under tool_calls
                    parts.append(dict(content))
        converted["content"] = parts
    else:
        converted["content"] = message.get("content")
    calls = []
    for entry in message.get("tool_calls") or []:
        call = entry.get("tool_call") if isinstance(entry, dict) else None
        if isinstance(call, dict):
            function = call.get("function") or {}
            calls.append({"id": call.get("id"),
                          "function": {"name": function.get("name"), "arguments": function.get("arguments")}})
    if calls:
        converted["tool_calls"] = calls
    if message.get("tool_call_id"):
        converted["tool_call_id"] = message["tool_call_id"]
    return converted


def messages(attributes: dict[str, Any], key: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(system, messages) of ``llm.input_messages`` or ``llm.output_messages``."""
    raw = [m for m in (_message(item) for item in unflatten(attributes, f"llm.{key}.")) if m is not None]
    return to_messages(raw)


def documents(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """``retrieval.documents.N.document.{id,content,score,metadata}`` as a list of documents."""
    found = []
    for item in unflatten(attributes, "retrieval.documents."):
        document = item.get("document") if isinstance(item, dict) else None
        if isinstance(document, dict):
            entry = {key: document[key] for key in ("id", "content", "score") if key in document}
            if "metadata" in document:
                entry["metadata"] = parse_json_text(document["metadata"])
            found.append(entry)
    return found
