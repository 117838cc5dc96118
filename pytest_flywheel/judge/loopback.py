"""A stand-in judge for :class:`~pytest_flywheel.testing.MessagesAPIServer`: reads the judge's prompt,
answers with a ``record_verdicts`` tool call. For tests and benchmarks that run the real SDK with no key.

The default rule: a criterion passes when every word quoted in it with single quotes appears in the
OUTPUT block (``"The reply must mention 'refund'"`` passes when the output contains ``refund``), and
when it quotes nothing. Pass ``rule=`` for anything else.

    server.respond_with(verdict_handler())
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.judge.prompt import TOOL_NAME

#: The model a loopback verdict reports, so verdict files show which judge gave them.
LOOPBACK_MODEL = "claude-sonnet-5-5-loopback"

#: A quote opens and closes at a word's edge, so the apostrophe of "order's" opens none.
_QUOTED = re.compile(r"(?<!\w)'([^']+)'(?!\w)")


@dataclass(frozen=True)
class ParsedJudgePrompt:
    """The parts of a judge request, read back out of its fenced blocks."""

    nonce: str
    blocks: dict[str, str]
    criteria: list[str]
    system: str


def parse_judge_request(body: dict[str, Any]) -> ParsedJudgePrompt:
    """Split a judge request's first user message into its fenced blocks (by the request's nonce)."""
    first = body["messages"][0]["content"]
    text = first if isinstance(first, str) else "".join(part.get("text", "") for part in first)
    match = re.search(r"fenced with the code ([0-9a-f]{32})", text)
    if match is None:
        raise ValueError("not a flywheel judge request: no fence code in the first message")
    nonce = match.group(1)
    blocks = {
        name: body_text
        for name, body_text in re.findall(
            rf"<<<([A-Z]+)-BEGIN {nonce}>>>\n(.*?)\n<<<\1-END {nonce}>>>", text, flags=re.DOTALL
        )
    }
    criteria = [
        re.sub(r"^\[\d+\] ", "", line) for line in blocks.get("CRITERIA", "").splitlines() if line.strip()
    ]
    system = body.get("system") or ""
    return ParsedJudgePrompt(nonce=nonce, blocks=blocks, criteria=criteria, system=str(system))


def quoted_words_rule(criterion: str, prompt: ParsedJudgePrompt) -> tuple[bool, str]:
    words = _QUOTED.findall(criterion)
    output = prompt.blocks.get("OUTPUT", "")
    missing = [word for word in words if word not in output]
    if missing:
        return False, f"The output does not mention {', '.join(missing)}."
    return True, "The output mentions " + (", ".join(words) if words else "what the criterion asks") + "."


Rule = Callable[[str, ParsedJudgePrompt], tuple[bool, str]]


def verdict_reply(verdicts: list[dict[str, Any]], *, model: str = LOOPBACK_MODEL) -> dict[str, Any]:
    """A Messages API response calling ``record_verdicts`` with ``verdicts``."""
    from pytest_flywheel.testing import tool_use_message

    return tool_use_message(TOOL_NAME, {"verdicts": verdicts}, model=model, input_tokens=900, output_tokens=120)


def verdict_handler(rule: Rule = quoted_words_rule, *, model: str = LOOPBACK_MODEL) -> Callable[[Any], dict[str, Any]]:
    """A ``MessagesAPIServer.respond_with`` handler judging every criterion with ``rule``."""

    def handle(request: Any) -> dict[str, Any]:
        prompt = parse_judge_request(request.body)
        verdicts = []
        for index, criterion in enumerate(prompt.criteria):
            passed, reason = rule(criterion, prompt)
            verdicts.append({"index": index, "reason": reason, "passed": passed, "confidence": 0.9})
        return verdict_reply(verdicts, model=model)

    return handle
