"""The default judge: Claude through the official Anthropic SDK, structured output through a forced tool.

One call judges all of a case's sentence assertions. The SDK is imported, and its client created, on
the first call, so importing this module (and collecting tests) costs nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from pytest_flywheel.config import DEFAULT_JUDGE_MODEL, ConfigError, ModelPrice, Settings
from pytest_flywheel.judge.pool import DEFAULT_WORKERS, FirstCallAlone, PooledJudge
from pytest_flywheel.judge.pricing import cost_usd
from pytest_flywheel.judge.prompt import (
    PROMPT_VERSION,
    TOOL_NAME,
    VERDICTS_TOOL,
    build_prompt,
    retry_instruction,
)
from pytest_flywheel.judge.types import CallUsage, JudgeError, JudgeRequest, JudgeUsage, Verdict

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import MessageParam, OutputConfigParam, ToolChoiceToolParam, ToolParam

#: Every judge request carries it: a case's cassette lets such requests through, unrecorded.
JUDGE_HEADER = {"x-flywheel-judge": "1"}
_KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE")


class _UnusableReply(Exception):
    """A reply the judge cannot turn into verdicts; ``problem`` says why (it is sent back on retry)."""

    def __init__(self, problem: str, *, truncated: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.truncated = truncated


def _quote_list(assertions: list[str], limit: int = 5) -> str:
    shown = "; ".join(f"\"{text}\"" for text in assertions[:limit])
    return shown + (f"; and {len(assertions) - limit} more" if len(assertions) > limit else "")


def _subject(request: JudgeRequest) -> str:
    count = len(request.assertions)
    of = f" of {request.label}" if request.label else ""
    return f"{count} assertion{'s' if count != 1 else ''}{of} ({_quote_list(request.assertions)})"


def parse_verdicts(message: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The ``count`` verdict entries of a reply (JSON of a Messages API response), ordered by index.

    Raises :class:`_UnusableReply` naming what is wrong: no tool call, missing or duplicate indexes,
    wrong types, a confidence outside 0..1, a reply cut short by ``max_tokens``.
    """
    blocks = [block for block in message.get("content") or [] if isinstance(block, dict)]
    calls = [block for block in blocks if block.get("type") == "tool_use" and block.get("name") == TOOL_NAME]
    if not calls:
        if message.get("stop_reason") == "max_tokens":
            raise _UnusableReply("the reply was cut short by max_tokens before the tool call", truncated=True)
        text = " ".join(str(block.get("text", "")) for block in blocks if block.get("type") == "text").strip()
        found = f"text: {text[:120]!r}" if text else "no content"
        raise _UnusableReply(f"it did not call {TOOL_NAME} (it answered with {found})")
    tool_input = calls[0].get("input")
    verdicts = tool_input.get("verdicts") if isinstance(tool_input, dict) else None
    if isinstance(verdicts, str):  # models now and then send a nested array as JSON text
        try:
            verdicts = json.loads(verdicts)
        except json.JSONDecodeError:
            pass
    if not isinstance(verdicts, list):
        truncated = message.get("stop_reason") == "max_tokens"
        raise _UnusableReply(f"the {TOOL_NAME} input has no verdicts list", truncated=truncated)
    by_index: dict[int, dict[str, Any]] = {}
    for position, item in enumerate(verdicts):
        if not isinstance(item, dict):
            raise _UnusableReply(f"verdict #{position} is not an object")
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise _UnusableReply(f"verdict #{position} has no integer index (found {index!r})")
        if not 0 <= index < count:
            raise _UnusableReply(f"verdict #{position} has index {index}, outside 0 to {count - 1}")
        if index in by_index:
            raise _UnusableReply(f"criterion {index} got two verdicts")
        passed, reason, confidence = item.get("passed"), item.get("reason"), item.get("confidence")
        if not isinstance(passed, bool):
            raise _UnusableReply(f"criterion {index}: passed must be true or false, found {passed!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise _UnusableReply(f"criterion {index}: reason must be a non-empty string, found {reason!r}")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise _UnusableReply(f"criterion {index}: confidence must be a number from 0 to 1, found {confidence!r}")
        by_index[index] = {"passed": passed, "reason": reason.strip(), "confidence": float(confidence)}
    missing = [index for index in range(count) if index not in by_index]
    if missing:
        raise _UnusableReply(f"criteria {', '.join(map(str, missing))} got no verdict")
    return [by_index[index] for index in range(count)]


def _replayable(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A reply's content as request content (only the fields the API accepts back)."""
    kept: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "text" and block.get("text"):
            kept.append({"type": "text", "text": block["text"]})
        elif block.get("type") == "tool_use":
            kept.append({"type": "tool_use", "id": block.get("id"), "name": block.get("name"),
                         "input": block.get("input") if isinstance(block.get("input"), dict) else {}})
    return kept


class AnthropicJudge(PooledJudge):
    """Judges sentence assertions with Claude: one forced ``record_verdicts`` tool call per case, a
    versioned prompt (:data:`~pytest_flywheel.judge.prompt.PROMPT_VERSION`).

    No ``temperature``: the SDK (2.x) has no sampling parameters and the API (version 2026-10-21, and
    current models on any version) rejects them with HTTP 400. Repeatability comes from the verdict
    cache instead: a verdict is given once and then read from the committed file. ``effort`` (low ..
    max) is passed as ``output_config.effort`` when set, and is part of the cache key.

    ``client``: an ``anthropic.Anthropic`` to use as is (tests point one at a loopback server).
    Otherwise one is created on the first call from ``api_key`` / ``ANTHROPIC_API_KEY`` and ``base_url``
    / ``ANTHROPIC_BASE_URL``; with no key at all, judging raises :class:`JudgeError`.
    ``reply_retries``: how often a reply that does not parse is asked for again (with what was wrong).
    ``max_api_retries``: the SDK's own retries of 429/5xx/connection errors, with backoff.
    """

    backend = "anthropic"
    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        *,
        model: str = DEFAULT_JUDGE_MODEL,
        client: anthropic.Anthropic | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        max_workers: int = DEFAULT_WORKERS,
        reply_retries: int = 1,
        max_tokens: int = 2048,
        timeout: float = 120.0,
        max_api_retries: int = 2,
        prices: Mapping[str, ModelPrice] | None = None,
        effort: str | None = None,
    ) -> None:
        super().__init__(max_workers=max_workers)
        if reply_retries < 0:
            raise ValueError(f"reply_retries={reply_retries!r}: expected 0 or more")
        self.model = model
        self.reply_retries = reply_retries
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_api_retries = max_api_retries
        self.prices = dict(prices or {})
        self.effort = effort
        #: What can change a verdict besides model and prompt: part of the cache key.
        self.settings: dict[str, Any] = {"effort": effort, "sampling": "api-default"}
        self.usage = JudgeUsage()
        self._client = client
        self._api_key = api_key
        self._base_url = base_url
        self._client_lock = threading.Lock()
        self._first_call = FirstCallAlone()

    # -- the client -------------------------------------------------------------------------------

    def _get_client(self, request: JudgeRequest) -> anthropic.Anthropic:
        with self._client_lock:
            if self._client is not None:
                return self._client
            if self._api_key is None and not any(os.environ.get(name) for name in _KEY_VARIABLES):
                raise JudgeError(
                    f"No verdict for {_subject(request)}: the judge ({self.model}) needs an Anthropic API "
                    "key and ANTHROPIC_API_KEY is not set. Run once with ANTHROPIC_API_KEY set to judge "
                    "them, or commit the verdict file (flywheel/verdicts.jsonl) from a run that had a key.",
                    assertions=request.assertions,
                )
            import anthropic  # the SDK loads only when a verdict is really needed

            self._client = anthropic.Anthropic(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self.timeout,
                max_retries=self.max_api_retries,
                default_headers=JUDGE_HEADER,
            )
            return self._client

    # -- judging ----------------------------------------------------------------------------------

    def judge(self, request: JudgeRequest) -> list[Verdict]:
        """One verdict per assertion of ``request``, in order, from one judge call (plus retries)."""
        if not request.assertions:
            return []
        client = self._get_client(request)
        prompt = build_prompt(
            request.assertions, input=request.input, output=request.output, trajectory=request.trajectory
        )
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt.user}]
        max_tokens = self.max_tokens
        started = time.perf_counter()
        tokens = {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0}
        problem = ""
        model = self.model
        for attempt in range(1, self.reply_retries + 2):
            reply = self._call(client, request, system=prompt.system, messages=messages, max_tokens=max_tokens)
            model = str(reply.get("model") or self.model)
            usage = reply.get("usage") or {}
            tokens["input"] += int(usage.get("input_tokens") or 0)
            tokens["output"] += int(usage.get("output_tokens") or 0)
            tokens["cache_read"] += int(usage.get("cache_read_input_tokens") or 0)
            tokens["cache_creation"] += int(usage.get("cache_creation_input_tokens") or 0)
            try:
                entries = parse_verdicts(reply, len(request.assertions))
            except _UnusableReply as unusable:
                problem = unusable.problem
                if unusable.truncated:
                    max_tokens *= 2  # asking again with the same budget would be cut again
                    messages = messages[:1]
                else:
                    messages = self._follow_up(prompt.user, reply, unusable.problem, len(request.assertions))
                continue
            call_usage = self._record_usage(model, tokens, attempt, started)
            return [
                Verdict(
                    passed=entry["passed"],
                    reason=entry["reason"],
                    confidence=entry["confidence"],
                    cached=False,
                    assertion=assertion,
                    model=model,
                    usage=call_usage,
                )
                for assertion, entry in zip(request.assertions, entries, strict=True)
            ]
        self._record_usage(model, tokens, self.reply_retries + 1, started)
        attempts = self.reply_retries + 1
        raise JudgeError(
            f"No verdict for {_subject(request)}: the judge ({model}) gave {attempts} "
            f"unusable repl{'ies' if attempts != 1 else 'y'}; the last: {problem}. Run again; if it "
            "persists, try another judge model (--flywheel-judge-model).",
            assertions=request.assertions,
        )

    def _follow_up(self, user: str, reply: dict[str, Any], problem: str, count: int) -> list[dict[str, Any]]:
        """The conversation for a retry: the first question, the unusable reply, and what was wrong."""
        content = _replayable([block for block in reply.get("content") or [] if isinstance(block, dict)])
        if not content:
            return [{"role": "user", "content": user}]
        note = retry_instruction(problem, count)
        tool_ids = [block["id"] for block in content if block["type"] == "tool_use"]
        answer: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": tool_id, "is_error": True, "content": note} for tool_id in tool_ids
        ] or [{"type": "text", "text": note}]
        return [
            {"role": "user", "content": user},
            {"role": "assistant", "content": content},
            {"role": "user", "content": answer},
        ]

    def _record_usage(self, model: str, tokens: dict[str, int], attempts: int, started: float) -> CallUsage:
        usage = CallUsage(
            model=model,
            input_tokens=tokens["input"],
            output_tokens=tokens["output"],
            cache_read_tokens=tokens["cache_read"],
            cache_creation_tokens=tokens["cache_creation"],
            cost_usd=cost_usd(
                model,
                input_tokens=tokens["input"],
                output_tokens=tokens["output"],
                cache_read_tokens=tokens["cache_read"],
                cache_creation_tokens=tokens["cache_creation"],
                prices=self.prices,
            ),
            attempts=attempts,
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )
        self.usage.add_call(usage)
        return usage

    def _call(
        self,
        client: anthropic.Anthropic,
        request: JudgeRequest,
        *,
        system: str,
        messages: list[dict[str, Any]],
        max_tokens: int,
    ) -> dict[str, Any]:
        import anthropic

        output_config: OutputConfigParam | anthropic.Omit = anthropic.omit
        if self.effort:
            output_config = cast("OutputConfigParam", {"effort": self.effort})
        tool_choice: ToolChoiceToolParam = {"type": "tool", "name": TOOL_NAME}
        try:
            raw = client.messages.with_raw_response.create(
                model=self.model,
                max_tokens=max_tokens,
                system=system,
                messages=cast("list[MessageParam]", messages),
                tools=[cast("ToolParam", VERDICTS_TOOL)],
                tool_choice=tool_choice,
                output_config=output_config,
                extra_headers=JUDGE_HEADER,
            )
            with self._first_call():  # the requests overlap; the SDK's first reply is read alone
                response = raw.parse()
        except anthropic.APIStatusError as exc:
            raise JudgeError(self._status_message(request, exc), assertions=request.assertions) from exc
        except anthropic.APIConnectionError as exc:
            raise JudgeError(
                f"No verdict for {_subject(request)}: the judge could not reach the Anthropic API at "
                f"{client.base_url} ({exc}). Check the network and ANTHROPIC_BASE_URL, then run again.",
                assertions=request.assertions,
            ) from exc
        dumped: dict[str, Any] = response.model_dump(mode="json")
        return dumped

    def _status_message(self, request: JudgeRequest, exc: anthropic.APIStatusError) -> str:
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        detail = f"HTTP {status} {error.get('type') or ''}: {error.get('message') or exc.message}".replace("  ", " ")
        if status in (401, 403):
            advice = "Check that ANTHROPIC_API_KEY holds a valid key with access to the model."
        elif status == 404:
            advice = f"Check the judge model name ({self.model!r}; --flywheel-judge-model or judge_model)."
        elif status == 429:
            advice = (
                f"The API is rate limiting: run again later, or with fewer judge calls at once "
                f"(FLYWHEEL_JUDGE_WORKERS or [tool.flywheel] judge_workers; now {self.max_workers})."
            )
        elif status >= 500:
            advice = "The API failed or is overloaded: run again later (verdicts already given are kept)."
        else:
            advice = f"Check the judge settings (model {self.model!r})."
        return f"No verdict for {_subject(request)}: the judge's API call failed with {detail}. {advice}"


def judge_workers(settings: Settings, environ: Mapping[str, str] | None = None) -> int:
    """How many judge calls may run at once: ``FLYWHEEL_JUDGE_WORKERS``, else ``[tool.flywheel]
    judge_workers``, else 8. Lower it when the API rate-limits (HTTP 429)."""
    env = os.environ if environ is None else environ
    raw: Any = env.get("FLYWHEEL_JUDGE_WORKERS") or settings.raw.get("judge_workers") or DEFAULT_WORKERS
    try:
        workers = int(raw)
    except (TypeError, ValueError):
        workers = 0
    if workers < 1 or isinstance(raw, bool):
        raise ConfigError(
            f"judge_workers={raw!r} (FLYWHEEL_JUDGE_WORKERS or [tool.flywheel] judge_workers): expected a whole "
            "number above 0, the number of judge calls that may run at once."
        )
    return workers


def make_default_judge(
    settings: Settings, *, model: str | None = None, max_workers: int | None = None
) -> AnthropicJudge:
    """The judge the plugin uses when no ``pytest_flywheel_make_judge`` hook answers."""
    return AnthropicJudge(
        model=model or settings.judge_model,
        max_workers=max_workers or judge_workers(settings),
        prices=settings.prices,
    )
