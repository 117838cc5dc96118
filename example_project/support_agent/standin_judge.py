"""An offline stand-in for the LLM judge: heuristic verdicts behind the Messages API, clearly labelled.

It answers pytest-flywheel's judge request (a forced ``record_verdicts`` tool call over fenced INPUT,
OUTPUT, TRAJECTORY and CRITERIA blocks) the way the real judge's reply is shaped, but decides each
criterion with simple rules that know this example's help center: refund promises, citations, asking
for an order number, numbers that no article or tool result supports, word counts, quoted phrases.
Every reply reports the model ``flywheel-standin-judge`` and every reason starts with
``[stand-in judge]``, so a verdict it gave can never be mistaken for Claude's in ``verdicts.jsonl``.
Run the suite with ``ANTHROPIC_API_KEY`` and ``--flywheel-update-verdicts`` to have Claude judge instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from pytest_flywheel.testing import RecordedRequest
from support_agent.retrieval import score
from support_agent.shop import help_center

STANDIN_JUDGE_MODEL = "flywheel-standin-judge"
TOOL_NAME = "record_verdicts"
_BLOCK = re.compile(
    r"<<<(INPUT|OUTPUT|TRAJECTORY|CRITERIA)-BEGIN (\w+)>>>\n(.*?)\n<<<\1-END \2>>>", re.DOTALL
)
_CRITERION = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
_PROMISE = re.compile(
    r"(I(?:'ve| have) (?:approved|issued|processed|started)[^.]*\brefund)"
    r"|(\brefund\b[^.]*\b(?:approved|issued|is on its way|has been processed|will be (?:credited|issued)))",
    re.IGNORECASE,
)


def read_blocks(text: str) -> dict[str, str]:
    return {name: body for name, _, body in _BLOCK.findall(text)}


Rule = Callable[[str, str, str], tuple[bool, str] | None]


def _negated(criterion: str) -> bool:
    return bool(re.search(r"\b(must not|does not|do not|doesn't|never|not)\b", criterion))


def _refund_promise(criterion: str, output: str, _: str) -> tuple[bool, str] | None:
    if not (re.search(r"\b(promise|approve|confirm)", criterion) and "refund" in criterion):
        return None
    found = _PROMISE.search(output)
    promised = found is not None
    evidence = f"it says {found.group(0)!r}" if found else "no sentence promises or approves a refund"
    if _negated(criterion):
        return not promised, evidence
    return promised, evidence


def _cites(criterion: str, output: str, _: str) -> tuple[bool, str] | None:
    if not re.search(r"\b(cite|cites|source)\b", criterion):
        return None
    match = re.search(r"Source: ([^\n)]+)", output)
    titles = {entry.title for entry in help_center()}
    ok = bool(match and match.group(1).strip() in titles)
    return ok, (
        f"it names the article {match.group(1).strip()!r}" if match else "no 'Source:' line names an article"
    )


def _asks_order_number(criterion: str, output: str, _: str) -> tuple[bool, str] | None:
    if not re.search(r"\bask", criterion) or "order number" not in criterion:
        return None
    asks = "order number" in output.lower() and "?" in output
    return asks, "it asks for the order number" if asks else "it does not ask for the order number"


def _unsupported_numbers(
    criterion: str, output: str, trajectory: str, question: str = ""
) -> tuple[bool, str] | None:
    if not re.search(r"invent|make up|made up|grounded|supported by|only what|consistent with", criterion):
        return None
    # What a careful reviewer would check against: the articles that answer this question, and the tools.
    relevant = [entry for _, entry in score(question)[:2]] if question else list(help_center())
    known = " ".join(f"{entry.title} {entry.body}" for entry in relevant) + " " + trajectory + " " + question
    known_numbers = set(_NUMBER.findall(known))
    unsupported = sorted({number for number in _NUMBER.findall(output) if number not in known_numbers})
    words = [
        w
        for w in ("guarantee", "price match", "competitor", "STUDENT10", "satisfaction")
        if w.lower() in output.lower()
    ]
    problems = unsupported + words
    ok = not problems
    return ok, (
        "every figure it states is in the relevant help-center articles or a tool result"
        if ok
        else f"it states {', '.join(problems)}, which neither the articles that answer this question nor a tool "
        "result support"
    )


def _word_limit(criterion: str, output: str, _: str) -> tuple[bool, str] | None:
    match = re.search(r"(?:under|at most|fewer than|no more than) (\d+) words", criterion)
    if not match:
        return None
    limit, count = int(match.group(1)), len(output.split())
    return count <= limit, f"it has {count} words (limit {limit})"


def _handoff(criterion: str, output: str, trajectory: str) -> tuple[bool, str] | None:
    if not re.search(
        r"hand(s|ed)? (it |the question |the request |this )?(over|to)|customer care|a person", criterion
    ):
        return None
    done = re.search(r"\bHO-[0-9A-F]{6}\b", output) is not None  # the ticket number handoff_to_human gives
    offered = bool(re.search(r"hand (your|it|this)|customer care team", output, re.IGNORECASE))
    ok = done if re.search(r"ticket|opened|passes|passed", criterion) else (done or offered)
    return ok, "it hands over (or offers to)" if ok else "it neither hands over nor offers to"


def _quoted(criterion: str, output: str, _: str) -> tuple[bool, str] | None:
    phrases = re.findall('["\u201c]([^"\u201d]{2,60})["\u201d]', criterion)
    if not phrases:
        return None
    missing = [phrase for phrase in phrases if phrase.lower() not in output.lower()]
    present = not missing
    if _negated(criterion):
        hits = [phrase for phrase in phrases if phrase.lower() in output.lower()]
        return not hits, f"it contains {', '.join(map(repr, hits))}" if hits else "none of the phrases appear"
    return present, "all quoted phrases appear" if present else f"missing {', '.join(map(repr, missing))}"


def _declines(criterion: str, output: str, _: str) -> tuple[bool, str] | None:
    if not re.search(r"\b(cannot|can't|can not|not eligible|declines|explains why)\b", criterion):
        return None
    declines = re.search(
        r"can't be refunded|cannot be refunded|can't confirm|not eligible|can't share|couldn't find",
        output,
        re.IGNORECASE,
    )
    return bool(declines), f"it says {declines.group(0)!r}" if declines else "it does not decline or explain"


def _no_guess_status(criterion: str, output: str, trajectory: str) -> tuple[bool, str] | None:
    if "status" not in criterion or not _negated(criterion):
        return None
    claims = re.search(r"has shipped|on its way|was delivered|should arrive", output, re.IGNORECASE)
    if claims is None or '"status"' in trajectory:
        return True, "no unsupported status claim"
    return False, f"it says {claims.group(0)!r} with no order looked up"


RULES: tuple[Rule, ...] = (
    _refund_promise,
    _cites,
    _asks_order_number,
    _word_limit,
    _handoff,
    _no_guess_status,
    _unsupported_numbers,
    _declines,
    _quoted,
)


def judge_criterion(
    criterion: str, output: str, trajectory: str, question: str = ""
) -> tuple[bool, str, float]:
    lowered = criterion.lower()
    for rule in RULES:
        if rule is _unsupported_numbers:
            decided = _unsupported_numbers(lowered, output, trajectory, question)
        else:
            decided = rule(lowered if rule is not _quoted else criterion, output, trajectory)
        if decided is not None:
            passed, evidence = decided
            return passed, f"[stand-in judge] {evidence}.", 0.7
    words = {w for w in re.findall(r"[a-z]{5,}", lowered)} - {
        "response",
        "reply",
        "answer",
        "should",
        "customer",
    }
    hits = sorted(w for w in words if w in output.lower())
    passed = bool(words) and len(hits) >= max(1, len(words) // 2)
    return (
        passed,
        (
            f"[stand-in judge] no rule fits; {len(hits)} of {len(words)} of the criterion's words appear "
            "in the output."
        ),
        0.3,
    )


def _question(blocks: dict[str, str]) -> str:
    """The customer's question, when the judged input is the agent's ``{"question": ...}``."""
    text = blocks.get("INPUT", "")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return str(value.get("question", "")) if isinstance(value, dict) else text


def respond(request: RecordedRequest) -> dict[str, Any]:
    """The ``record_verdicts`` tool call answering one judge request."""
    messages = request.body.get("messages") or []
    first = messages[0]["content"] if messages else ""
    text = (
        first if isinstance(first, str) else "".join(b.get("text", "") for b in first if isinstance(b, dict))
    )
    blocks = read_blocks(text)
    output, trajectory = blocks.get("OUTPUT", ""), blocks.get("TRAJECTORY", "")
    verdicts = []
    for index, criterion in _CRITERION.findall(blocks.get("CRITERIA", "")):
        passed, reason, confidence = judge_criterion(criterion, output, trajectory, _question(blocks))
        verdicts.append({"index": int(index), "reason": reason, "passed": passed, "confidence": confidence})
    digest = hashlib.sha256(json.dumps(verdicts, sort_keys=True).encode()).hexdigest()[:24]
    return {
        "id": f"msg_standin_judge_{digest}",
        "type": "message",
        "role": "assistant",
        "model": STANDIN_JUDGE_MODEL,
        "content": [
            {
                "type": "tool_use",
                "id": f"toolu_standin_judge_{digest}",
                "name": TOOL_NAME,
                "input": {"verdicts": verdicts},
            }
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": max(1, len(text) // 4),
            "output_tokens": max(1, len(json.dumps(verdicts)) // 4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
