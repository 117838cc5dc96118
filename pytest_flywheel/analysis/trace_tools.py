"""The LLM analyst's read-only view of a trace: the tree's skeleton, one span at a chosen detail,
a text search, the comparison with a good run. Each tool answers in text the model reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pytest_flywheel.analysis.findings import Comparison
from pytest_flywheel.analysis.rules import error_payload, exception_chain, is_empty
from pytest_flywheel.analysis.text import text_of
from pytest_flywheel.store.tree import SpanNode, SpanTree

SUMMARY_FIELD_CHARS = 400
FULL_FIELD_CHARS = 12_000
SEARCH_LIMIT = 20
SKELETON_LINES = 400  # a runaway agent's trace can hold thousands of spans


class TraceTools:
    """The analyst's read-only view of a trace (and of the good trace it is compared with)."""

    def __init__(
        self,
        tree: SpanTree,
        comparison: Comparison | None = None,
        good_tree: SpanTree | None = None,
        comparison_note: str = "",
    ) -> None:
        self.tree = tree
        self.comparison = comparison
        self.good_tree = good_tree
        self.comparison_note = comparison_note

    def find(self, span_id: str) -> tuple[SpanNode, str] | None:
        """The node of ``span_id`` (or a unique prefix) and which trace it is in ("bad"/"good")."""
        node = self.tree.get(span_id)
        if node is not None:
            return node, "bad"
        if self.good_tree is not None:
            node = self.good_tree.get(span_id)
            if node is not None:
                return node, "good"
        return None

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        """Run tool ``name``; returns (result text, is_error)."""
        if name == "get_tree":
            return skeleton(self.tree), False
        if name == "get_span":
            span_id = str(arguments.get("span_id", ""))
            detail = str(arguments.get("detail") or "summary")
            found = self.find(span_id)
            if found is None:
                return f"no span with id {span_id!r} in this trace; use ids from get_tree", True
            return json.dumps(
                span_view(found[0], full=detail == "full", trace=found[1]), ensure_ascii=False
            ), False
        if name == "search_spans":
            text = str(arguments.get("text", ""))
            if not text.strip():
                return "search_spans needs a non-empty text", True
            return json.dumps(search(self.tree, text), ensure_ascii=False), False
        if name == "get_comparison":
            if self.comparison is None or self.good_tree is None:
                return self.comparison_note or "no comparison trace is available", False
            return json.dumps(
                {
                    "good_trace_id": self.comparison.good_trace_id,
                    "how_chosen": self.comparison.how_chosen,
                    "differences": [d.to_dict() for d in self.comparison.differences[:20]],
                    "good_tree": skeleton(self.good_tree),
                },
                ensure_ascii=False,
            ), False
        return f"unknown tool {name!r}", True


def span_flags(node: SpanNode) -> list[str]:
    span = node.span
    flags: list[str] = []
    if span.error:
        flags.append(f"error={span.error.get('type')}")
    if span.stop_reason:
        flags.append(f"stop={span.stop_reason}")
    if span.type in ("tool", "retrieval") and not span.error:
        if is_empty(span.output):
            flags.append("empty result")
        elif error_payload(span.output):
            flags.append("error payload")
    if span.input_tokens or span.output_tokens:
        flags.append(f"tokens={span.input_tokens or 0}/{span.output_tokens or 0}")
    return flags


def skeleton(tree: SpanTree) -> str:
    """One line per span: ``  <id> <type> <name> [status] <ms> ms  flags``, indented by depth."""
    lines: list[str] = []
    if tree.trace is not None:
        lines.append(
            f"trace {tree.trace.id} {tree.trace.name!r} status={tree.trace.status} "
            f"spans={tree.trace.span_count or len(tree.by_id)}"
        )
    for count, node in enumerate(tree.walk()):
        if count >= SKELETON_LINES:
            lines.append(f"... {len(tree.by_id) - SKELETON_LINES} more spans (use search_spans to find them)")
            break
        span = node.span
        flags = span_flags(node)
        lines.append(
            f"{'  ' * node.depth}{span.id} {span.type} {span.name} [{span.status}] "
            f"{span.duration_ms:.0f} ms" + (f"  {' '.join(flags)}" if flags else "")
        )
    return "\n".join(lines)


def _cut(value: Any, limit: int) -> Any:
    """``value`` itself when its JSON fits in ``limit`` characters, else its JSON text cut there."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= limit:
        return value
    return text[:limit] + f"… [{len(text) - limit} more characters]"


def _text(value: Any, limit: int = SUMMARY_FIELD_CHARS) -> str:
    text = text_of(value)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def _llm_request_summary(request: Any) -> Any:
    """An LLM call's system prompt, its tools' names and its last two messages, as short text."""
    if not isinstance(request, dict):
        return _cut(request, SUMMARY_FIELD_CHARS)
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    return {
        "model": request.get("model"),
        "max_tokens": request.get("max_tokens"),
        "system": _text(request.get("system")),
        "tools": [t.get("name") for t in request.get("tools") or [] if isinstance(t, dict)],
        "message_count": len(messages),
        "last_messages": [{"role": m.get("role"), "text": _text(m.get("content"))} for m in messages[-2:]],
    }


def _llm_reply_summary(reply: Any) -> Any:
    """An LLM reply's text and tool calls."""
    if not isinstance(reply, dict) or not isinstance(reply.get("content"), list):
        return _cut(reply, SUMMARY_FIELD_CHARS)
    blocks = [b for b in reply["content"] if isinstance(b, dict)]
    return {
        "text": _text([b.get("text") for b in blocks if b.get("type") == "text"]),
        "tool_calls": [
            {"name": b.get("name"), "input": _cut(b.get("input"), 200)}
            for b in blocks
            if b.get("type") == "tool_use"
        ],
        "stop_reason": reply.get("stop_reason"),
    }


def span_view(node: SpanNode, *, full: bool, trace: str = "bad") -> dict[str, Any]:
    span = node.span
    limit = FULL_FIELD_CHARS if full else SUMMARY_FIELD_CHARS
    view: dict[str, Any] = {
        "id": span.id,
        "trace": "analysed" if trace == "bad" else "comparison (good)",
        "name": span.name,
        "type": span.type,
        "status": span.status,
        "parent_id": span.parent_id,
        "children": [c.id for c in node.children],
        "duration_ms": round(span.duration_ms, 1),
        "location": span.location,
        "input": _cut(span.input, limit),
        "output": _cut(span.output, limit),
    }
    if span.type == "llm" and not full:
        # The raw request/response JSON is mostly envelope; a summary shows what was said.
        view["input"] = _llm_request_summary(span.input)
        view["output"] = _llm_reply_summary(span.output)
    if span.error:
        view["error"] = {
            "type": span.error.get("type"),
            "message": span.error.get("message"),
            "chain": exception_chain(span.error),
        }
        if full:
            view["error"]["traceback"] = _cut(span.error.get("traceback"), limit)
    if span.type == "llm":
        view.update(
            model=span.model,
            stop_reason=span.stop_reason,
            input_tokens=span.input_tokens,
            output_tokens=span.output_tokens,
        )
    if full and span.metadata:
        view["metadata"] = _cut(span.metadata, limit)
    return view


def search(tree: SpanTree, text: str) -> list[dict[str, Any]]:
    needle = text.lower()
    hits: list[dict[str, Any]] = []
    for node in tree.walk():
        span = node.span
        fields = {
            "name": span.name,
            "input": text_of(span.input),
            "output": text_of(span.output),
            "error": text_of(span.error),
        }
        for field_name, haystack in fields.items():
            at = haystack.lower().find(needle)
            if at >= 0:
                snippet = haystack[max(0, at - 80) : at + len(text) + 80]
                hits.append({"span_id": span.id, "name": span.name, "field": field_name, "snippet": snippet})
                break
        if len(hits) >= SEARCH_LIMIT:
            break
    return hits
