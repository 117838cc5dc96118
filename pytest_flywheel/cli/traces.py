"""``flywheel traces list`` and ``flywheel traces show``: finding the bad traces."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import (
    add_json_option,
    add_store_option,
    format_time,
    print_json,
    print_json_line,
    store_path,
)
from pytest_flywheel.store.queries import (
    STATUSES,
    FeedbackFilter,
    TraceDetail,
    TraceFilter,
    list_traces,
    load_trace,
    open_store_for_reading,
    require_traces,
    unique_prefix_length,
)
from pytest_flywheel.store.records import SpanRecord, TraceRecord
from pytest_flywheel.store.tree import SpanNode

PREVIEW_CHARS = 60


LIST_DESCRIPTION = """\
List traces, newest first. Filters combine with AND.

--status error finds the traces whose entrypoint raised. A tool or LLM call can raise while the agent
catches the exception and answers anyway: that trace's status is ok. --has-error finds every trace
with a span that raised, whatever its status (the traces behind "where failures start" in
flywheel stats).

Exit status 1 when no trace matches."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    traces = subparsers.add_parser(
        "traces",
        help="Find and inspect recorded traces",
        description="Find the bad traces in the trace store and draw their span trees.",
    )
    sub = traces.add_subparsers(dest="traces_command", metavar="ACTION", required=True)

    listing = sub.add_parser(
        "list",
        help="The newest traces first, narrowed by filters",
        description=LIST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--project", type=values.text, metavar="PROJECT", help="Only traces of this project")
    listing.add_argument(
        "--name",
        type=values.text,
        metavar="PATTERN",
        help="Only traces of this entrypoint name (glob patterns like 'support_*' work)",
    )
    listing.add_argument(
        "--status",
        choices=STATUSES,
        metavar="STATUS",
        help="Whether the entrypoint itself raised: ok or error",
    )
    listing.add_argument(
        "--has-error",
        action="store_true",
        help="Only traces with a span that raised, even when the agent caught it and the trace is ok",
    )
    listing.add_argument(
        "--since",
        type=values.since,
        metavar="WHEN",
        help="Started within 30m, 2h, 3d, 1w, or since an ISO-8601 time",
    )
    listing.add_argument(
        "--min-latency-ms", type=values.amount, metavar="MS", help="Took at least this many milliseconds"
    )
    listing.add_argument("--min-cost", type=values.amount, metavar="USD", help="Cost at least this many US dollars")
    listing.add_argument(
        "--tag",
        type=values.text,
        action="append",
        default=[],
        metavar="TAG",
        help="Carries this tag (repeat: all of them)",
    )
    listing.add_argument(
        "--feedback",
        type=values.text_matching("a feedback filter", FeedbackFilter.parse),
        action="append",
        default=[],
        metavar="NAME<VALUE",
        help="Has feedback NAME comparing so to VALUE: <, >, =, <=, >=, != (e.g. 'thumbs<1', 'rating=bad')",
    )
    listing.add_argument("--limit", type=values.count, default=50, metavar="N", help="How many traces (default 50)")
    add_json_option(listing, "One JSON object per trace, one per line")
    add_store_option(listing)
    listing.set_defaults(func=run_list)

    show = sub.add_parser(
        "show",
        help="Draw one trace's span tree",
        description="Draw a trace's span tree with each span's input, output, error, tokens and cost.",
    )
    show.add_argument("trace_id", type=values.text, metavar="TRACE_ID", help="A trace id, or a unique prefix of one")
    add_json_option(show, "The whole trace with all spans and feedback")
    add_store_option(show)
    show.set_defaults(func=run_show)


def filters_from_args(args: argparse.Namespace) -> TraceFilter:
    """The :class:`TraceFilter` the command-line options describe (already converted by argparse)."""
    return TraceFilter(
        project=args.project,
        name=args.name,
        status=args.status,
        has_error=args.has_error,
        since=args.since,
        min_latency_ms=args.min_latency_ms,
        min_cost=args.min_cost,
        tags=tuple(args.tag),
        feedback=tuple(args.feedback),
    )


def run_list(args: argparse.Namespace) -> int:
    filters = filters_from_args(args)
    with open_store_for_reading(store_path(args)) as store:
        require_traces(store)
        found = list_traces(store, filters, limit=args.limit)
        if not found:
            print("flywheel: no traces match these filters", file=sys.stderr)
            return 1
        if args.json:
            for summary in found:
                print_json_line(summary.to_json())
            return 0
        width = max(unique_prefix_length(store, summary.trace.id) for summary in found)
    print(format_table(found_rows(found, id_width=width)))
    return 0


def found_rows(found: list[Any], *, id_width: int) -> list[list[str]]:
    rows = [["ID", "START", "STATUS", "DURATION", "COST", "NAME", "INPUT"]]
    for summary in found:
        t: TraceRecord = summary.trace
        rows.append(
            [
                t.id[:id_width],
                format_time(t.start_time),
                t.status,
                format_duration(t.duration_ms),
                format_cost(t.cost_usd),
                t.name,
                preview(t.input, arguments=True),
            ]
        )
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def format_duration(ms: float) -> str:
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def format_cost(usd: float | None) -> str:
    if not usd:
        return "-"
    return f"${usd:.4f}" if usd < 1 else f"${usd:.2f}"


def preview(value: Any, limit: int = PREVIEW_CHARS, *, arguments: bool = False) -> str:
    """A one-line glimpse of a JSON value, text without quotes; with ``arguments``, a call's lone
    argument shows as its value."""
    if value is None:
        return ""
    if arguments and isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- show -------------------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    with open_store_for_reading(store_path(args)) as store:
        require_traces(store)
        detail = load_trace(store, args.trace_id)
    if args.json:
        print_json(detail.to_json())
    else:
        print(draw_trace(detail))
    return 0


def draw_trace(detail: TraceDetail) -> str:
    """The trace's header line, its feedback, and its span tree drawn with box-drawing characters."""
    lines: list[str] = []
    t = detail.trace
    if t is not None:
        tokens = (
            f"  {t.input_tokens:,} in / {t.output_tokens:,} out tokens"
            if t.input_tokens or t.output_tokens
            else ""
        )
        lines.append(
            f"trace {t.id}  {t.project}/{t.name}  {t.status}  {format_duration(t.duration_ms)}"
            f"{tokens}  {format_cost(t.cost_usd)}  {format_time(t.start_time)}"
        )
        if t.tags:
            lines.append(f"tags: {', '.join(map(str, t.tags))}")
    else:
        lines.append(f"trace {detail.trace_id}  (unfinished: its root span was never written)")
    for fb in detail.feedback:
        reason = f"  ({fb.reason})" if fb.reason else ""
        lines.append(f"feedback: {fb.name} = {json.dumps(fb.value, ensure_ascii=False)}{reason}")
    if not detail.spans:
        lines.append("(no spans recorded)")
    for root in detail.roots:
        _draw_node(root, lines, prefix="", last=True, top=True)
    return "\n".join(lines)


def span_line(span: SpanRecord) -> str:
    parts = [span.type, span.name, format_duration(span.duration_ms)]
    if span.model:
        parts.append(span.model)
    if span.input_tokens is not None or span.output_tokens is not None:
        parts.append(f"{span.input_tokens or 0:,} in / {span.output_tokens or 0:,} out tokens")
    if span.cost_usd:
        parts.append(format_cost(span.cost_usd))
    if span.error:
        message = " ".join(str(span.error.get("message", "")).split())
        parts.append(f"✗ {span.error.get('type', 'Error')}: {message}"[:120])
    return "  ".join(parts)


def _draw_node(node: SpanNode, lines: list[str], *, prefix: str, last: bool, top: bool = False) -> None:
    branch = "" if top else ("└── " if last else "├── ")
    orphan = "  (parent span missing)" if node.orphan else ""
    lines.append(f"{prefix}{branch}{span_line(node.span)}{orphan}")
    child_prefix = prefix if top else prefix + ("    " if last else "│   ")
    detail_prefix = child_prefix + ("│   " if node.children else "    ")
    shown_in, shown_out = _message_views(node.span) if node.span.type == "llm" else (None, None)
    if node.span.input is not None:
        lines.append(f"{detail_prefix}in:  {shown_in or preview(node.span.input, 100, arguments=True)}")
    if node.span.output is not None:
        lines.append(f"{detail_prefix}out: {shown_out or preview(node.span.output, 100)}")
    for index, child in enumerate(node.children):
        _draw_node(child, lines, prefix=child_prefix, last=index == len(node.children) - 1)


def _blocks_text(content: Any) -> str | None:
    """Text of a Messages API ``content`` (a string or a list of blocks); tool calls as ``name(args)``."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            parts.append(f"[tool_use {block.get('name')}({preview(block.get('input'), 40)})]")
        elif block.get("type") == "tool_result":
            parts.append(f"[tool_result {preview(block.get('content'), 40)}]")
    return " ".join(parts) if parts else None


def _message_views(span: SpanRecord) -> tuple[str | None, str | None]:
    """For an LLM span: the last message sent and the reply's text, instead of the raw JSON."""
    shown_in = shown_out = None
    if (
        isinstance(span.input, dict)
        and isinstance(span.input.get("messages"), list)
        and span.input["messages"]
    ):
        last = span.input["messages"][-1]
        text = _blocks_text(last.get("content")) if isinstance(last, dict) else None
        if text is not None:
            shown_in = preview(f"{last.get('role', 'user')}: {text}", 100)
    if isinstance(span.output, dict):
        text = _blocks_text(span.output.get("content"))
        if text is not None:
            shown_out = preview(f"assistant: {text}", 100)
    return shown_in, shown_out
