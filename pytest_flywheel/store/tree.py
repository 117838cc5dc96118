"""A trace's spans as a tree (parent/children in start order), built from ``Store.get_spans``.

The one span tree of the package: the CLI draws it, analysis walks and aligns it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from pytest_flywheel.store.records import SpanRecord, TraceRecord


@dataclass
class SpanNode:
    """One span with its children (in start order) and its depth (the root is 0)."""

    span: SpanRecord
    children: list[SpanNode] = field(default_factory=list)
    depth: int = 0
    parent: SpanNode | None = None
    #: 1-based position among siblings of the same name, and how many such siblings there are.
    ordinal: int = 1
    same_named: int = 1
    #: True when the span names a parent that is not in the trace (the parent never finished).
    orphan: bool = False

    @property
    def id(self) -> str:
        return self.span.id

    @property
    def key(self) -> tuple[str, str]:
        """What makes two steps "the same step" when aligning trees: the span's type and name."""
        return (self.span.type, self.span.name)


@dataclass
class SpanTree:
    """The spans of one trace. Orphans (a parent that was never written) hang under the roots."""

    trace: TraceRecord | None
    roots: list[SpanNode]
    by_id: dict[str, SpanNode]
    _order: list[SpanNode] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, spans: list[SpanRecord], trace: TraceRecord | None = None) -> SpanTree:
        ordered = sorted(spans, key=lambda s: (s.start_time, s.end_time, s.id))
        by_id = {s.id: SpanNode(s) for s in ordered}
        roots: list[SpanNode] = []
        for node in by_id.values():
            parent = by_id.get(node.span.parent_id) if node.span.parent_id else None
            if parent is None or parent is node:
                node.orphan = bool(node.span.parent_id) and parent is None
                roots.append(node)
            else:
                node.parent = parent
                parent.children.append(node)
        tree = cls(trace=trace, roots=roots, by_id=by_id)
        for node in tree.walk():
            node.depth = 0 if node.parent is None else node.parent.depth + 1
        for siblings in [roots, *(n.children for n in by_id.values())]:
            counts: dict[str, int] = {}
            for sibling in siblings:
                counts[sibling.span.name] = counts.get(sibling.span.name, 0) + 1
                sibling.ordinal = counts[sibling.span.name]
            for sibling in siblings:
                sibling.same_named = counts[sibling.span.name]
        return tree

    def walk(self) -> Iterator[SpanNode]:
        """Every node, depth first, children in start order (the order the agent took its steps)."""
        order = self._order
        if order is None:
            # Computed once: a tree is not changed after build, and the rules walk it a dozen times.
            order = self._order = []
            stack = list(reversed(self.roots))
            while stack:
                node = stack.pop()
                order.append(node)
                stack.extend(reversed(node.children))
        return iter(order)

    def spans(self) -> list[SpanRecord]:
        return [node.span for node in self.walk()]

    @property
    def root(self) -> SpanNode | None:
        """The entrypoint span (the first root when orphans exist)."""
        return self.roots[0] if self.roots else None

    def get(self, span_id: str) -> SpanNode | None:
        """The node of ``span_id``, or of the one span whose id starts with it."""
        node = self.by_id.get(span_id)
        if node is not None or not span_id:
            return node
        matches = [n for sid, n in self.by_id.items() if sid.startswith(span_id)]
        return matches[0] if len(matches) == 1 else None

    def path_of(self, node: SpanNode) -> str:
        """``agent > plan > search[2]``: names from the root, with a 1-based index among same-named siblings."""
        parts: list[str] = []
        current: SpanNode | None = node
        while current is not None:
            label = current.span.name
            if current.same_named > 1:
                label += f"[{current.ordinal}]"
            parts.append(label)
            current = current.parent
        return " > ".join(reversed(parts))

    def final_output(self) -> object:
        """What the entrypoint returned (the trace summary's output, else the root span's)."""
        if self.trace is not None and self.trace.output is not None:
            return self.trace.output
        return None if self.root is None else self.root.span.output
