"""Root-cause rules: deterministic checks over a span tree that need no API key.

Each rule looks at the tree (and, for the outlier rule, the store's history of the same
entrypoint) and returns :class:`Finding` values naming the span, the evidence, a severity, how sure
the rule is, and an assertion a regression test could make.

Rule ids: ``error.first``, ``tool.raised``, ``tool.empty``, ``tool.error_payload``,
``llm.max_tokens``, ``llm.refusal``, ``answer.ungrounded``, ``answer.unsupported_specifics``,
``tool.repeated``,
``latency.outlier``, ``cost.outlier``.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.analysis.findings import Finding
from pytest_flywheel.analysis.text import canonical_json, content_tokens, short_json, text_of
from pytest_flywheel.store.records import SpanRecord
from pytest_flywheel.store.tree import SpanNode, SpanTree

#: Rules that see the outcome (the final answer, the totals) rather than the step that caused it: the
#: root cause is a step's finding when there is one.
SYMPTOM_RULES: frozenset[str] = frozenset(
    {"answer.ungrounded", "answer.unsupported_specifics", "latency.outlier", "cost.outlier"}
)
#: The answer shares less than this fraction of its content words with the retrieved context.
GROUNDING_THRESHOLD = 0.2
#: ...and has at least this many content words (a two-word answer says too little to judge).
GROUNDING_MIN_ANSWER_WORDS = 6
#: The same tool with the same arguments this many times in one trace is a loop.
REPEAT_THRESHOLD = 3
#: Fewer earlier traces of the entrypoint than this and the outlier rule stays silent.
OUTLIER_MIN_SAMPLES = 8
#: A latency outlier is also this much slower than the median: 0.4 ms against a usual 0.05 ms is
#: clock noise, not a slow request.
LATENCY_MIN_EXCESS_MS = 100.0

#: An answer that says it could not answer ("I'm sorry, I could not ...", "I don't have information").
DECLINES = re.compile(
    r"\b(sorry|apologi[sz]e|could not|couldn't|cannot|can't|unable to|not able to|"
    r"(?:don't|do not) have (?:any )?information)\b",
    re.IGNORECASE,
)

_TOOLISH = ("tool", "retrieval")
_ERROR_TEXT = re.compile(
    r"\b(not found|no results?|error|failed|failure|exception|unavailable|timed? ?out|"
    r"permission denied|forbidden|unauthori[sz]ed|invalid)\b",
    re.IGNORECASE,
)
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_FRAME_LINE = re.compile(r'^\s+File "([^"]+)", line (\d+), in (\S+)')


@dataclass(frozen=True)
class EntrypointHistory:
    """Durations (ms) and costs (USD) of earlier traces with the same entrypoint name.

    The outlier bounds are computed once per history: triage reads one history per entrypoint for
    thousands of traces.
    """

    durations_ms: list[float] = field(default_factory=list)
    costs_usd: list[float] = field(default_factory=list)

    @functools.cached_property
    def latency_bound(self) -> tuple[float, float, float] | None:
        """(median, threshold, MAD) of the durations; None below :data:`OUTLIER_MIN_SAMPLES`. The
        threshold is at least :data:`LATENCY_MIN_EXCESS_MS` above the median."""
        bound = _bound(self.durations_ms)
        if bound is None:
            return None
        median, threshold, mad = bound
        return median, max(threshold, median + LATENCY_MIN_EXCESS_MS), mad

    @functools.cached_property
    def cost_bound(self) -> tuple[float, float, float] | None:
        """(median, threshold, MAD) of the costs; None below :data:`OUTLIER_MIN_SAMPLES`."""
        return _bound(self.costs_usd)


# -- helpers ---------------------------------------------------------------------------------------


def is_empty(value: Any) -> bool:
    """None, an empty/whitespace string, an empty list or an empty dict."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return len(value) == 0
    return False


def error_payload(value: Any) -> str | None:
    """Why ``value`` reads as an error result (a returned, not raised, failure), or None."""
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        if lowered.get("error") not in (None, False, "", [], {}):
            return f"error={short_json(lowered['error'], 100)}"
        if lowered.get("errors") not in (None, [], {}, ""):
            return f"errors={short_json(lowered['errors'], 100)}"
        for flag in ("ok", "success", "succeeded"):
            if lowered.get(flag) is False:
                return f"{flag}=false"
        status = lowered.get("status")
        if isinstance(status, str) and status.lower() in {"error", "failed", "failure", "not_found"}:
            return f"status={status!r}"
        if isinstance(status, int) and status >= 400:
            return f"status={status}"
        return None
    # Long text is probably a document that merely mentions "error"; only short replies count.
    if isinstance(value, str) and len(value) <= 300:
        match = _ERROR_TEXT.search(value)
        if match:
            return f"text {short_json(value, 100)} says {match.group(0)!r}"
    return None


def exception_chain(error: dict[str, Any]) -> list[str]:
    """``Type: message (file:line in func)`` for each exception of a traceback's chain, oldest first.

    Reads the ``traceback`` text of ``SpanRecord.error`` (Python's format: each exception's block ends
    with an unindented ``Type: message`` line, chained blocks are separated by "The above exception
    ..." / "During handling ..."); falls back to ``type: message``.
    """
    text = str(error.get("traceback") or "")
    chain: list[str] = []
    last_frame: str | None = None
    for line in text.splitlines():
        frame = _FRAME_LINE.match(line)
        if frame:
            last_frame = f"{frame.group(1).rsplit('/', 1)[-1]}:{frame.group(2)} in {frame.group(3)}"
            continue
        if not line or line[0].isspace() or line.startswith("Traceback ("):
            continue
        if line.startswith(("The above exception", "During handling")):
            continue
        match = _EXCEPTION_LINE.match(line)
        if match and (
            "Error" in match.group(1) or "Exception" in match.group(1) or match.group(2) is not None
        ):
            entry = f"{match.group(1)}: {match.group(2) or ''}".rstrip(": ").rstrip()
            chain.append(f"{entry} ({last_frame})" if last_frame else entry)
            last_frame = None
    if not chain:
        kind = error.get("type") or "Exception"
        message = error.get("message") or ""
        chain.append(f"{kind}: {message}".rstrip(": "))
    return chain


def _finding(node: SpanNode, **kwargs: Any) -> Finding:
    return Finding(span_id=node.span.id, span_name=node.span.name, **kwargs)


def _stop_reason(span: SpanRecord) -> str | None:
    if span.stop_reason:
        return span.stop_reason
    if isinstance(span.output, dict) and isinstance(span.output.get("stop_reason"), str):
        return str(span.output["stop_reason"])
    return None


# -- the rules -------------------------------------------------------------------------------------


def first_error(tree: SpanTree, history: EntrypointHistory) -> list[Finding]:
    """The span that raised first (the innermost: errors end a child before its parents) and its chain."""
    errors = [n for n in tree.walk() if n.span.error]
    if not errors:
        return []
    first = min(errors, key=lambda n: (n.span.end_time, -n.depth))
    error = first.span.error or {}
    kind = str(error.get("type") or "exception").rsplit(".", 1)[-1]
    chain = exception_chain(error)
    carried = [n.span.name for n in errors if n is not first and _is_ancestor(n, first)]
    evidence = " <- caused by ".join(reversed(chain)) if len(chain) > 1 else chain[0]
    if carried:
        evidence += f"; propagated through {' > '.join(reversed(carried))}"
    return [
        _finding(
            first,
            rule="error.first",
            title=f"{first.span.name} raised {kind}",
            evidence=evidence,
            severity="critical" if tree.root is not None and tree.root.span.error else "high",
            confidence=0.95,
            suggested_assertion=_error_assertion(tree, first, kind),
        )
    ]


def _error_assertion(tree: SpanTree, first: SpanNode, kind: str) -> str:
    """What a case from this trace should check: that the error no longer escapes, when it reached the
    entrypoint; when the agent caught it and answered, what that answer does about it (a case asserting
    "no unhandled error" would pass on the very trace it came from)."""
    if tree.root is None or tree.root.span.error:
        return f"The agent completes without an unhandled {kind} from {first.span.name}."
    return (
        f"When {first.span.name} fails with {kind}, the answer says it could not be done "
        "and does not present a result as if it had been."
    )


def _is_ancestor(candidate: SpanNode, node: SpanNode) -> bool:
    current = node.parent
    while current is not None:
        if current is candidate:
            return True
        current = current.parent
    return False


def tool_results(tree: SpanTree, history: EntrypointHistory) -> list[Finding]:
    """Tool and retrieval spans that raised, returned nothing, or an error; identical repeats fold into one.

    A loop that calls a tool eight times with the same arguments and gets the same error back is one
    problem seen eight times: one finding (on the first call) that counts the repeats, so the report
    does not bury the root cause under copies.
    """
    folded: dict[tuple[str, str, str, str], Finding] = {}
    counts: dict[tuple[str, str, str, str], list[str]] = {}
    for finding, node in _tool_result_findings(tree, history):
        key = (finding.rule, node.span.name, canonical_json(node.span.input), finding.evidence)
        counts.setdefault(key, []).append(node.span.id)
        folded.setdefault(key, finding)
    result: list[Finding] = []
    for key, finding in folded.items():
        ids = counts[key]
        if len(ids) > 1:
            more = ", ..." if len(ids) > 4 else ""
            finding = dataclasses.replace(
                finding,
                title=f"{finding.title} ({len(ids)} identical calls)",
                evidence=f"{finding.evidence}; {len(ids)} identical calls: spans {', '.join(ids[:4])}{more}",
            )
        result.append(finding)
    return result


def _tool_result_findings(tree: SpanTree, history: EntrypointHistory) -> list[tuple[Finding, SpanNode]]:
    """Each tool/retrieval span's problem, one finding per span, with the span's node."""
    first = first_error(tree, history)
    first_id = first[0].span_id if first else None
    findings: list[tuple[Finding, SpanNode]] = []
    for node in tree.walk():
        span = node.span
        if span.type not in _TOOLISH:
            continue
        found: list[Finding] = []
        if span.error:
            if span.id != first_id:
                chain = exception_chain(span.error)
                found.append(
                    _finding(
                        node,
                        rule="tool.raised",
                        title=f"{span.type} {span.name} raised",
                        evidence=f"{chain[-1]}; arguments {short_json(span.input, 120)}",
                        severity="high",
                        confidence=0.9,
                        suggested_assertion=f"When {span.name} fails, the answer tells the user it could not "
                        "complete that step instead of guessing.",
                    )
                )
        elif (reason := error_payload(span.output)) is not None:
            found.append(
                _finding(
                    node,
                    rule="tool.error_payload",
                    title=f"{span.type} {span.name} returned an error",
                    evidence=f"{reason}; arguments {short_json(span.input, 120)}",
                    severity="high",
                    confidence=0.8,
                    suggested_assertion=f"When {span.name} returns an error, the answer says so and does not "
                    "present made-up results.",
                )
            )
        elif is_empty(span.output):
            found.append(
                _finding(
                    node,
                    rule="tool.empty",
                    title=f"{span.type} {span.name} returned nothing",
                    evidence=f"returned {short_json(span.output, 20)} for arguments {short_json(span.input, 120)}",
                    # An empty result can be the truth (nothing matched): a likely cause, not a sure one.
                    severity="medium",
                    confidence=0.6,
                    suggested_assertion=f"When {span.name} finds nothing, the answer says no information was "
                    "found instead of inventing details.",
                )
            )
        findings.extend((finding, node) for finding in found)
    return findings


def llm_stops(tree: SpanTree, history: EntrypointHistory) -> list[Finding]:
    """LLM calls cut off by ``max_tokens`` or ending in a refusal."""
    findings: list[Finding] = []
    for node in tree.walk():
        span = node.span
        if span.type != "llm":
            continue
        stop = _stop_reason(span)
        limit = span.input.get("max_tokens") if isinstance(span.input, dict) else None
        if stop == "max_tokens":
            findings.append(
                _finding(
                    node,
                    rule="llm.max_tokens",
                    title=f"{span.name} was cut off at max_tokens",
                    evidence=f"stop_reason=max_tokens after {span.output_tokens or '?'} output tokens"
                    f" (max_tokens={limit if limit is not None else '?'}); the reply ends "
                    f"{short_json(text_of(span.output)[-60:], 70)}",
                    severity="high",
                    confidence=0.9,
                    suggested_assertion="The answer is complete: it is not cut off mid-sentence.",
                )
            )
        elif stop == "refusal":
            findings.append(
                _finding(
                    node,
                    rule="llm.refusal",
                    title=f"{span.name} refused",
                    evidence=f"stop_reason=refusal; reply {short_json(text_of(span.output), 120)}",
                    severity="high",
                    confidence=0.85,
                    suggested_assertion="The agent answers the request instead of refusing it.",
                )
            )
    return findings


def grounding(tree: SpanTree, history: EntrypointHistory) -> list[Finding]:
    """The final answer shares few content words with what the retrieval spans returned.

    overlap = |answer words ∩ retrieved words| / |answer words|, over :func:`content_tokens`
    (lower-cased words of 3+ characters, stopwords removed) of the entrypoint's output and of all
    ``retrieval`` spans' outputs in the trace. Fires below :data:`GROUNDING_THRESHOLD` when the
    answer has at least :data:`GROUNDING_MIN_ANSWER_WORDS` content words and something was retrieved.
    An answer that declines or apologises (:data:`DECLINES`) and states no figure or code claims
    nothing the context must support: it is not held to it.
    """
    retrievals = [n for n in tree.walk() if n.span.type == "retrieval" and not is_empty(n.span.output)]
    root = tree.root
    if not retrievals or root is None:
        return []
    answer_text = text_of(tree.final_output())
    if DECLINES.search(answer_text) and not specifics(answer_text):
        return []
    answer = content_tokens(answer_text)
    context = set().union(*(content_tokens(text_of(n.span.output)) for n in retrievals))
    if len(answer) < GROUNDING_MIN_ANSWER_WORDS or not context:
        return []
    shared = answer & context
    overlap = len(shared) / len(answer)
    if overlap >= GROUNDING_THRESHOLD:
        return []
    # The further below the threshold, the surer: 0.5 at the threshold, 0.9 at no overlap at all.
    confidence = 0.5 + 0.4 * (1 - overlap / GROUNDING_THRESHOLD)
    names = ", ".join(sorted({n.span.name for n in retrievals}))
    return [
        _finding(
            root,
            rule="answer.ungrounded",
            title="the answer shares little with the retrieved context",
            evidence=f"{len(shared)} of the answer's {len(answer)} content words ({overlap:.0%}) appear in "
            f"what {names} returned (threshold {GROUNDING_THRESHOLD:.0%})"
            + (f"; shared: {', '.join(sorted(shared)[:6])}" if shared else ""),
            severity="high",
            confidence=confidence,
            suggested_assertion="The answer is based on the retrieved documents and states nothing they "
            "do not support.",
        )
    ]


_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,])|(?<![\w.,])\d+(?:\.\d+)?")
_TOKEN = re.compile(r"[A-Za-z0-9][\w-]*[A-Za-z0-9]")
_LETTER_DIGIT = re.compile(r"[A-Za-z]\d|\d[A-Za-z]")


def specifics(text: str) -> set[str]:
    """The checkable details of ``text``: numbers (``1,500.00`` reads as ``1500``) and codes.

    A code mixes letters and digits and has a capital or a letter touching a digit (``STUDENT10``,
    ``BL-10226``, ``3pm``), so plain hyphenations like "60-day" count only as the number 60.
    """
    found: set[str] = set()

    def code(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.isalpha() or token.isdigit():  # most words: all letters (or all digits), not a code
            return token
        has_digit = any(c.isdigit() for c in token)
        has_letter = any(c.isalpha() for c in token)
        if has_digit and has_letter and (any(c.isupper() for c in token) or _LETTER_DIGIT.search(token)):
            found.add(token.lower())
            return " "  # a code's digits are not a number of their own
        return token

    rest = _TOKEN.sub(code, text)
    for number in _NUMBER.findall(rest):
        try:
            found.add(f"{float(number.replace(',', '')):g}")
        except ValueError:
            continue
    return found


def _seen_by_the_model(tree: SpanTree) -> str:
    """What the agent had to answer from: the request, tool and retrieval results, and what its LLM
    calls were sent (system prompt and user turns, not the model's own earlier turns)."""
    parts = [text_of(tree.trace.input if tree.trace else None)]
    if tree.root is not None:
        parts.append(text_of(tree.root.span.input))
    for node in tree.walk():
        span = node.span
        if span.type in _TOOLISH:
            parts.append(text_of(span.output))
        elif span.type == "llm" and isinstance(span.input, dict):
            parts.append(text_of(span.input.get("system")))
            for message in span.input.get("messages") or []:
                if isinstance(message, dict) and message.get("role") != "assistant":
                    parts.append(text_of(message.get("content")))
    return "\n".join(parts)


def unsupported_specifics(tree: SpanTree, history: EntrypointHistory) -> list[Finding]:
    """Numbers and codes in the final answer that nothing the agent saw contains.

    "Saw" = the request, every tool/retrieval result and every LLM call's system prompt and user
    turns. A figure the model computed (a sum) can be legitimate, hence a medium severity; a code or
    price that appears nowhere is the typical invented detail.
    """
    root = tree.root
    # Only agents that look things up: a plain chat model's figures have nothing to be checked against.
    sources = [n for n in tree.walk() if n.span.type in _TOOLISH]
    if root is None or not sources:
        return []
    stated = specifics(text_of(tree.final_output()))
    if not stated:  # nothing checkable in the answer: what the agent saw need not be read
        return []
    missing = sorted(stated - specifics(_seen_by_the_model(tree)))
    if not missing:
        return []
    shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
    return [
        _finding(
            root,
            rule="answer.unsupported_specifics",
            title="the answer states figures or codes the agent never saw",
            evidence=f"{shown} in the answer appear in no tool or retrieval result, prompt or the request "
            f"({len(sources)} result(s) checked)",
            severity="medium",
            confidence=min(0.85, 0.6 + 0.1 * len(missing)),
            suggested_assertion="Every number, price, duration and code in the answer comes from the "
            "retrieved documents or tool results.",
        )
    ]


def repeated_calls(tree: SpanTree, history: EntrypointHistory) -> list[Finding]:
    """The same tool called :data:`REPEAT_THRESHOLD`+ times with the same arguments."""
    groups: dict[tuple[str, str], list[SpanNode]] = {}
    for node in tree.walk():
        if node.span.type in _TOOLISH:
            groups.setdefault((node.span.name, canonical_json(node.span.input)), []).append(node)
    findings: list[Finding] = []
    for (name, _), nodes in groups.items():
        if len(nodes) < REPEAT_THRESHOLD:
            continue
        findings.append(
            _finding(
                nodes[0],
                rule="tool.repeated",
                title=f"{name} called {len(nodes)} times with the same arguments",
                evidence=f"{len(nodes)} calls with {short_json(nodes[0].span.input, 100)}: spans "
                + ", ".join(n.span.id for n in nodes[:4])
                + (", ..." if len(nodes) > 4 else ""),
                severity="medium",
                confidence=min(0.95, 0.6 + 0.1 * len(nodes)),
                suggested_assertion=f"The agent calls {name} with the same arguments at most once.",
            )
        )
    return findings


def _outlier(value: float, bound: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
    """``bound`` (median, threshold, MAD) when ``value`` is above its threshold, else None."""
    return bound if bound is not None and value > bound[1] and value > 0 else None


def _bound(sample: Sequence[float]) -> tuple[float, float, float] | None:
    """(median, threshold, MAD) of ``sample``: a value above the threshold is far above the sample.

    Far above = above median + 5 * 1.4826 * MAD (a robust 5-sigma) and above twice the median;
    with no spread at all (MAD 0) the sample's p95 * 2 stands in for the first bound.
    """
    if len(sample) < OUTLIER_MIN_SAMPLES:
        return None
    median = statistics.median(sample)
    mad = statistics.median(abs(x - median) for x in sample)
    if mad > 0:
        bound = median + 5 * 1.4826 * mad
    else:
        ordered = sorted(sample)
        bound = 2 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    threshold = max(bound, 2 * median)
    return (median, threshold, mad)


def outliers(tree: SpanTree, history: EntrypointHistory) -> list[Finding]:
    """Latency or cost far above the entrypoint's usual (its earlier traces in the store); a latency
    outlier is also at least :data:`LATENCY_MIN_EXCESS_MS` over the median."""
    root = tree.root
    if root is None:
        return []
    findings: list[Finding] = []
    duration = tree.trace.duration_ms if tree.trace else root.span.duration_ms
    hit = _outlier(duration, history.latency_bound)
    if hit:
        median, threshold, mad = hit
        findings.append(
            _finding(
                root,
                rule="latency.outlier",
                title=f"{root.span.name} took far longer than usual",
                evidence=f"{duration:,.0f} ms vs a median of {median:,.0f} ms (MAD {mad:,.0f} ms, "
                f"n={len(history.durations_ms)}): {duration / max(median, 1e-9):.1f}x the median",
                severity="medium",
                confidence=0.75,
                suggested_assertion={"max_latency_ms": round(threshold)},
            )
        )
    cost = tree.trace.cost_usd if tree.trace else sum(s.cost_usd or 0.0 for s in tree.spans())
    hit = _outlier(cost, history.cost_bound)
    if hit:
        median, threshold, mad = hit
        findings.append(
            _finding(
                root,
                rule="cost.outlier",
                title=f"{root.span.name} cost far more than usual",
                evidence=f"${cost:.4f} vs a median of ${median:.4f} (n={len(history.costs_usd)}): "
                f"{cost / max(median, 1e-12):.1f}x the median",
                severity="medium",
                confidence=0.75,
                suggested_assertion={"max_cost_usd": round(threshold, 6)},
            )
        )
    return findings


Rule = Callable[[SpanTree, EntrypointHistory], list[Finding]]

RULES: tuple[Rule, ...] = (
    first_error,
    tool_results,
    llm_stops,
    grounding,
    unsupported_specifics,
    repeated_calls,
    outliers,
)


def run_rules(tree: SpanTree, history: EntrypointHistory | None = None) -> list[Finding]:
    """Every rule's findings: most severe first; within a severity, steps before symptoms, then the
    most confident."""
    history = history or EntrypointHistory()
    findings = [finding for rule in RULES for finding in rule(tree, history)]
    return sorted(findings, key=lambda f: (f.sort_key[0], f.rule in SYMPTOM_RULES, f.sort_key[1]))
