"""Comparison with a successful trace: pick one, align the two span trees, find where they diverge.

``--compare auto`` picks, among the store's traces of the same entrypoint (same name, and same
``module:qualname`` location when both have one) whose status is ok and that carry no negative
feedback, the one whose input shares the most content words with the analysed trace's input
(Jaccard similarity of the words of the two inputs, :func:`~pytest_flywheel.analysis.text.similarity_tokens`;
ties go to the most recent; below :data:`MIN_SIMILARITY` there is no comparison).

Alignment: the two roots are paired; at each depth the children of a pair are aligned in order by
their ``(type, name)`` with :class:`difflib.SequenceMatcher`, so an inserted or skipped step does not
shift everything after it. Paired steps are then compared: error vs none, empty result where the good
run had data, different arguments, different system prompt / model / tool list for LLM calls.
"""

from __future__ import annotations

import difflib
from typing import Any

from pytest_flywheel.analysis.findings import Comparison, StepDifference
from pytest_flywheel.analysis.rules import error_payload, is_empty
from pytest_flywheel.analysis.text import canonical_json, jaccard, short_json, similarity_tokens, text_of
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.store import Store, TraceRecord
from pytest_flywheel.store.queries import (
    FEEDBACK_SIGNAL_SQL,
    TraceNotFoundError,
    feedback_signal_params,
    resolve_trace,
)
from pytest_flywheel.store.store import trace_from_row
from pytest_flywheel.store.tree import SpanNode, SpanTree

#: How many recent candidate traces ``--compare auto`` scores.
CANDIDATE_LIMIT = 500
#: Below this input similarity a "good run" answers another question: no comparison is better.
MIN_SIMILARITY = 0.2

# Within one step, the most telling difference is reported first.
_KIND_ORDER = {
    "error": 0,
    "empty_result": 1,
    "error_result": 1,
    "different_tool": 2,
    "different_step": 3,
    "missing_step": 4,
    "extra_step": 5,
    "different_prompt": 6,
    "different_arguments": 7,
}


class ComparisonError(FlywheelError):
    """The trace to compare with cannot be used."""


def pick_good_trace(store: Store, trace: TraceRecord) -> tuple[TraceRecord, float] | None:
    """The most similar successful trace of the same entrypoint, with its input similarity.

    "Successful": status ok and no feedback the store reads as negative (its own feedback signal).
    """
    rows = store.conn.execute(
        "SELECT t.* FROM traces t WHERE t.name = :name AND t.project = :project AND t.status = 'ok'"
        " AND t.id != :id AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.trace_id = t.id AND "
        f"{FEEDBACK_SIGNAL_SQL} < 0) ORDER BY t.start_time DESC LIMIT :limit",
        {
            "name": trace.name,
            "project": trace.project,
            "id": trace.id,
            "limit": CANDIDATE_LIMIT,
            **feedback_signal_params(store),
        },
    ).fetchall()
    wanted = similarity_tokens(text_of(trace.input))
    wanted_json = canonical_json(trace.input)
    best: tuple[TraceRecord, float] | None = None
    for row in rows:
        candidate = trace_from_row(row)
        if trace.location and candidate.location and candidate.location != trace.location:
            continue
        same = canonical_json(candidate.input) == wanted_json
        score = 1.0 if same else jaccard(wanted, similarity_tokens(text_of(candidate.input)))
        if best is None or score > best[1]:  # rows come newest first: ties keep the newest
            best = (candidate, score)
    return best


def load_tree(store: Store, trace: TraceRecord) -> SpanTree:
    return SpanTree.build(store.get_spans(trace.id), trace)


def choose_comparison(store: Store, trace: TraceRecord, how: str) -> tuple[TraceRecord, float | None] | None:
    """The good trace for ``--compare auto|TRACE_ID`` (None: auto found no candidate)."""
    if how == "auto":
        return pick_good_trace(store, trace)
    try:
        good = store.get_trace(resolve_trace(store, how))
    except TraceNotFoundError as exc:
        raise ComparisonError(f"--compare {how}: {exc}; or use --compare auto.") from None
    if good is None:
        raise ComparisonError(
            f"--compare {how}: that trace has not finished (no trace summary in {store.path}); "
            "pick a finished, successful trace."
        )
    if good.id == trace.id:
        raise ComparisonError(f"--compare {how}: that is the trace being analysed; pick a successful one.")
    return good, None


def compare_trees(bad: SpanTree, good: SpanTree) -> list[StepDifference]:
    """Every difference between aligned steps, in the order the bad run took its steps."""
    differences: list[StepDifference] = []
    same_input = canonical_json(_input_of(bad)) == canonical_json(_input_of(good))
    _align(bad, good, bad.roots, good.roots, differences, same_input)
    return differences


def _input_of(tree: SpanTree) -> Any:
    if tree.trace is not None:
        return tree.trace.input
    return None if tree.root is None else tree.root.span.input


def _align(
    bad: SpanTree,
    good: SpanTree,
    bad_nodes: list[SpanNode],
    good_nodes: list[SpanNode],
    out: list[StepDifference],
    same_input: bool,
) -> None:
    matcher = difflib.SequenceMatcher(
        a=[n.key for n in bad_nodes], b=[n.key for n in good_nodes], autojunk=False
    )
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for b_node, g_node in zip(bad_nodes[i1:i2], good_nodes[j1:j2], strict=True):
                _compare_pair(bad, good, b_node, g_node, out, same_input)
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for offset in range(paired):
            b_node, g_node = bad_nodes[i1 + offset], good_nodes[j1 + offset]
            both_tools = b_node.span.type == g_node.span.type == "tool"
            out.append(
                StepDifference(
                    kind="different_tool" if both_tools else "different_step",
                    path=bad.path_of(b_node),
                    bad_span_id=b_node.id,
                    good_span_id=g_node.id,
                    detail=f"the bad run called {b_node.span.type} {b_node.span.name!r} "
                    f"{short_json(b_node.span.input, 80)} where the good run called {g_node.span.type} "
                    f"{g_node.span.name!r} {short_json(g_node.span.input, 80)}",
                )
            )
        for b_node in bad_nodes[i1 + paired : i2]:
            out.append(
                StepDifference(
                    kind="extra_step",
                    path=bad.path_of(b_node),
                    bad_span_id=b_node.id,
                    good_span_id=None,
                    detail=f"the bad run has a {b_node.span.type} step {b_node.span.name!r} the good run did not take",
                )
            )
        for g_node in good_nodes[j1 + paired : j2]:
            out.append(
                StepDifference(
                    kind="missing_step",
                    path=good.path_of(g_node),
                    bad_span_id=None,
                    good_span_id=g_node.id,
                    detail=f"the good run's {g_node.span.type} step {g_node.span.name!r} "
                    f"{short_json(g_node.span.input, 80)} never happened in the bad run",
                )
            )


def _compare_pair(
    bad: SpanTree,
    good: SpanTree,
    b_node: SpanNode,
    g_node: SpanNode,
    out: list[StepDifference],
    same_input: bool,
) -> None:
    b, g = b_node.span, g_node.span
    path = bad.path_of(b_node)
    found: list[tuple[str, str]] = []
    if b.error and not g.error:
        found.append(
            (
                "error",
                f"the bad run's {b.name} raised {b.error.get('type')}: "
                f"{str(b.error.get('message'))[:120]}; the good run's did not",
            )
        )
    if b.type in ("tool", "retrieval") and not b.error:
        good_has_data = not is_empty(g.output) and error_payload(g.output) is None
        bad_kind = (
            "empty_result"
            if is_empty(b.output)
            else ("error_result" if error_payload(b.output) is not None else None)
        )
        if bad_kind and good_has_data:
            found.append(
                (
                    bad_kind,
                    f"{b.name} returned {short_json(b.output, 60)} where the good run "
                    f"got {short_json(g.output, 100)}",
                )
            )
    if b.type == "llm":
        found.extend(_prompt_differences(b.input, g.input, same_input, b.model, g.model))
    elif b_node.parent is not None and canonical_json(b.input) != canonical_json(g.input):
        # The root's input is the user's request: it differs by construction, so it is not a step.
        found.append(
            (
                "different_arguments",
                f"{b.name} was called with {short_json(b.input, 100)}; "
                f"the good run used {short_json(g.input, 100)}",
            )
        )
    for kind, detail in sorted(found, key=lambda item: _KIND_ORDER[item[0]]):
        out.append(StepDifference(kind=kind, path=path, bad_span_id=b.id, good_span_id=g.id, detail=detail))
    _align(bad, good, b_node.children, g_node.children, out, same_input)


def _prompt_differences(
    bad: Any, good: Any, same_input: bool, bad_model: str | None, good_model: str | None
) -> list[tuple[str, str]]:
    if not isinstance(bad, dict) or not isinstance(good, dict):
        return []
    found: list[tuple[str, str]] = []
    if text_of(bad.get("system")) != text_of(good.get("system")):
        found.append(
            (
                "different_prompt",
                f"system prompt {short_json(text_of(bad.get('system')), 90)} vs the "
                f"good run's {short_json(text_of(good.get('system')), 90)}",
            )
        )
    bad_m, good_m = bad.get("model") or bad_model, good.get("model") or good_model
    if bad_m != good_m:
        found.append(("different_prompt", f"model {bad_m!r} vs the good run's {good_m!r}"))
    bad_tools = sorted(str(t.get("name")) for t in bad.get("tools") or [] if isinstance(t, dict))
    good_tools = sorted(str(t.get("name")) for t in good.get("tools") or [] if isinstance(t, dict))
    if bad_tools != good_tools:
        found.append(("different_prompt", f"tools offered {bad_tools} vs the good run's {good_tools}"))
    # With the same user input, the messages themselves should match too.
    if same_input and canonical_json(bad.get("messages")) != canonical_json(good.get("messages")):
        found.append(
            (
                "different_prompt",
                f"messages {short_json(bad.get('messages'), 90)} vs the good run's "
                f"{short_json(good.get('messages'), 90)}",
            )
        )
    return found


def build_comparison(
    store: Store, trace: TraceRecord, bad_tree: SpanTree, how: str
) -> tuple[Comparison | None, SpanTree | None, str]:
    """The comparison for ``--compare`` (``how`` = "auto" or a trace id), the good tree, and a note.

    The note says why there is no comparison when there is none.
    """
    chosen = choose_comparison(store, trace, how)
    if chosen is None:
        return (
            None,
            None,
            (f"no successful trace of {trace.name!r} without negative feedback to compare with"),
        )
    good, similarity = chosen
    if similarity is not None and similarity < MIN_SIMILARITY:
        return (
            None,
            None,
            (
                f"the most similar successful trace of {trace.name!r} ({good.id}) shares only {similarity:.0%} of "
                f"the input's words (below {MIN_SIMILARITY:.0%}); pass --compare TRACE_ID to compare anyway"
            ),
        )
    good_tree = load_tree(store, good)
    comparison = Comparison(
        good_trace_id=good.id,
        how_chosen="auto" if how == "auto" else "explicit",
        similarity=similarity,
        differences=compare_trees(bad_tree, good_tree),
        same_input=canonical_json(_input_of(bad_tree)) == canonical_json(_input_of(good_tree)),
    )
    return comparison, good_tree, ""
