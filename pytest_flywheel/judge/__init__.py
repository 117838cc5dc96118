"""The judge: natural-language assertions checked by an LLM, deterministic checks, and the verdict cache.

Works without pytest; the plugin wires it in. Nothing is imported here until it is used (the exports
load on first access); the Anthropic SDK is imported when :class:`AnthropicJudge` first makes a call,
jsonschema when a ``json_schema`` check runs.

Public API (all importable from ``pytest_flywheel.judge``)
---------------------------------------------------------

Vocabulary (``types.py``)

* ``JudgeRequest(assertions: list[str], input=None, output=None, trajectory=[], label=None)`` — one
  case's sentence assertions plus what the judge looks at. ``label`` (case / test id) is for messages
  and the verdict file's ``case`` field only; it never reaches the prompt or the cache key.
* ``Verdict(passed, reason, confidence, cached=False, assertion="", key=None, model=None, usage=None)``.
* ``Judge`` protocol: ``backend, model, prompt_version, settings`` (all four are part of the cache key),
  ``judge(request) -> list[Verdict]`` (one call for all the request's assertions, in order) and
  ``submit(request) -> Future[list[Verdict]]``. ``PooledJudge`` (``pool.py``) is a base class giving
  ``submit``/``close`` on a bounded thread pool (default 8 workers).
* ``JudgeError(FlywheelError)`` — no key, API error, or a reply unreadable after the retry. Its
  ``.assertions`` names the assertions left without a verdict. Report it as a test *error*.
* ``CallUsage`` (tokens/cost of one call) and ``JudgeUsage``, the one usage counter (``cached, new,
  calls, input_tokens, output_tokens, cost_usd``; ``add_call``, ``add_verdicts``, ``add``,
  ``as_dict()``/``from_dict``), used per test, per judge and per session.

The Anthropic judge (``anthropic_judge.py``, prompt in ``prompt.py``)

* ``AnthropicJudge(*, model="claude-sonnet-5-5", client=None, api_key=None, base_url=None,
  max_workers=8, reply_retries=1, max_tokens=2048, timeout=120.0, max_api_retries=2, prices=None,
  effort=None)`` — official SDK, sync client created on first call, a forced tool (``record_verdicts``)
  as structured output, header ``x-flywheel-judge: 1`` (``JUDGE_HEADER``) on every request.
  ``.usage: JudgeUsage``; ``.close()``. ``PROMPT_VERSION = "flywheel-judge/1"``.
  No temperature is sent: SDK 2.x has no sampling parameters and the API rejects them for current
  models; repeatability comes from the verdict cache. ``effort`` goes to ``output_config.effort``.
  Cost: the tracing piece's price table (``pytest_flywheel.tracing.pricing``), ``prices`` overriding.
* ``make_default_judge(settings, *, model=None, max_workers=None) -> AnthropicJudge`` — what the
  plugin uses when no ``pytest_flywheel_make_judge`` hook answers. Workers: ``judge_workers(settings)``
  = ``FLYWHEEL_JUDGE_WORKERS`` > ``[tool.flywheel] judge_workers`` > 8.
* ``loopback.py`` (tests, benchmarks): ``verdict_handler(rule=...)`` for
  ``MessagesAPIServer.respond_with`` answers judge requests with a ``record_verdicts`` tool call (by
  default a criterion passes when every 'single-quoted' word in it is in the OUTPUT block);
  ``parse_judge_request(body)`` reads a request's fenced blocks back; ``LOOPBACK_MODEL``.

Deterministic checks (``checks.py``)

* ``run_check(spec: dict, *, output, trajectory, latency_ms, cost_usd) -> CheckResult(passed, reason,
  label)`` for ``contains``, ``not_contains``, ``regex``, ``json_schema``, ``tool_called`` (+ ``args``),
  ``max_latency_ms``, ``max_cost_usd``. A malformed spec raises ``CheckSpecError``; a check that cannot
  be evaluated (latency/cost not measured) raises ``CheckError`` (both ``FlywheelError``).
* ``is_check(assertion) -> bool`` (a mapping, vs a sentence string), ``check_label(spec) -> str``,
  ``output_text(output) -> str``.

Trajectories (``trajectory.py``)

* ``trajectory_from_spans(spans: list[SpanRecord]) -> list[dict]`` — in start order: tool calls
  ``{"type": "tool", "name", "arguments", "result"}`` (or ``"error": {"type", "message"}`` instead of
  ``result``), LLM calls ``{"type": "llm", "model", "stop_reason", "input_tokens", "output_tokens",
  "tool_uses": [{"name", "input"}]}``. Used by the checks, the judge prompt and the cache key.

The verdict cache (``cache.py``) — ``flywheel/verdicts.jsonl``

* ``verdict_key(judge, assertion, input, output, trajectory) -> "sha256:<hex>"`` over canonical JSON.
* ``VerdictEntry`` (key, assertion, passed, reason, confidence, backend, model, prompt_version,
  judged_at, case) with ``to_json()``/``from_json()`` and ``to_verdict(cached=True)``.
* ``VerdictCache.load(path, *, warn=True)`` (missing file = empty cache; a corrupt line is a
  ``VerdictCacheWarning`` naming file and line, also kept in ``.problems``); ``get(key)``,
  ``put(key, entry)`` / ``put_many(entries)`` (kept, and appended to the file at once),
  ``mark_used(key)``, ``new_entries``, ``used_keys``, ``unused_keys(ran_cases=None, *, gone=None)``,
  ``write(path=None, *, prune=())`` (merged with the file as it is on disk, sorted by key, atomic,
  under a folder lock; returns a ``WriteResult``).
* xdist: on a worker ``config.workeroutput["flywheel_verdicts"] = cache.export_session()`` (JSON-able:
  ``{"new": [...entries], "used": [...keys]}``); on the controller ``cache.merge_session(payload)`` for
  each finished worker, then ``cache.write(...)`` once. ``merge(entries)`` takes new entries alone.

Caching judge (``service.py``)

* ``CachedJudge(judge, cache, *, offline=False, update=False, redact=None)``:
  ``evaluate(request) -> list[Verdict]``, ``submit(request) -> Future[list[Verdict]]``, ``.usage``
  (``JudgeUsage``),
  ``close()``, ``keys_for(request)``. ``offline``: an uncached assertion is a ``JudgeError`` (no
  call). ``update``: judge again and overwrite the cached verdict. Cancelling a ``submit`` future
  cancels its judge call if it has not started. ``redact`` (a function over JSON values) scrubs a
  request's input, output and trajectory before they are keyed or judged. Verdicts come back in the request's assertion order,
  ``cached=True`` for those read from the file; a fully cached request makes no call.

Hooks: ``pytest_flywheel/hookspecs.py``: ``pytest_flywheel_make_judge(config, settings)`` and
``pytest_flywheel_redact(text)`` and ``pytest_flywheel_check(name, spec, output, trajectory)`` (all
firstresult), ``pytest_flywheel_verdicts(item, verdicts)`` (observe only).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flywheel.judge.anthropic_judge import JUDGE_HEADER, AnthropicJudge, make_default_judge
    from pytest_flywheel.judge.cache import (
        WORKEROUTPUT_KEY,
        VerdictCache,
        VerdictCacheError,
        VerdictCacheWarning,
        VerdictEntry,
        WriteResult,
        verdict_key,
    )
    from pytest_flywheel.judge.checks import (
        CHECK_KINDS,
        CheckError,
        CheckResult,
        CheckSpecError,
        check_label,
        is_check,
        output_text,
        run_check,
    )
    from pytest_flywheel.judge.pool import DEFAULT_WORKERS, PooledJudge
    from pytest_flywheel.judge.prompt import PROMPT_VERSION
    from pytest_flywheel.judge.service import CachedJudge
    from pytest_flywheel.judge.trajectory import trajectory_from_spans
    from pytest_flywheel.judge.types import CallUsage, Judge, JudgeError, JudgeRequest, JudgeUsage, Verdict

_EXPORTS = {
    "AnthropicJudge": "pytest_flywheel.judge.anthropic_judge",
    "CHECK_KINDS": "pytest_flywheel.judge.checks",
    "CachedJudge": "pytest_flywheel.judge.service",
    "CallUsage": "pytest_flywheel.judge.types",
    "CheckError": "pytest_flywheel.judge.checks",
    "CheckResult": "pytest_flywheel.judge.checks",
    "CheckSpecError": "pytest_flywheel.judge.checks",
    "DEFAULT_WORKERS": "pytest_flywheel.judge.pool",
    "JUDGE_HEADER": "pytest_flywheel.judge.anthropic_judge",
    "Judge": "pytest_flywheel.judge.types",
    "JudgeError": "pytest_flywheel.judge.types",
    "JudgeRequest": "pytest_flywheel.judge.types",
    "JudgeUsage": "pytest_flywheel.judge.types",
    "PROMPT_VERSION": "pytest_flywheel.judge.prompt",
    "PooledJudge": "pytest_flywheel.judge.pool",
    "Verdict": "pytest_flywheel.judge.types",
    "VerdictCache": "pytest_flywheel.judge.cache",
    "VerdictCacheError": "pytest_flywheel.judge.cache",
    "VerdictCacheWarning": "pytest_flywheel.judge.cache",
    "VerdictEntry": "pytest_flywheel.judge.cache",
    "WORKEROUTPUT_KEY": "pytest_flywheel.judge.cache",
    "WriteResult": "pytest_flywheel.judge.cache",
    "check_label": "pytest_flywheel.judge.checks",
    "is_check": "pytest_flywheel.judge.checks",
    "make_default_judge": "pytest_flywheel.judge.anthropic_judge",
    "output_text": "pytest_flywheel.judge.checks",
    "run_check": "pytest_flywheel.judge.checks",
    "trajectory_from_spans": "pytest_flywheel.judge.trajectory",
    "verdict_key": "pytest_flywheel.judge.cache",
}

__all__ = [
    "CHECK_KINDS",
    "DEFAULT_WORKERS",
    "JUDGE_HEADER",
    "PROMPT_VERSION",
    "WORKEROUTPUT_KEY",
    "AnthropicJudge",
    "CachedJudge",
    "CallUsage",
    "CheckError",
    "CheckResult",
    "CheckSpecError",
    "Judge",
    "JudgeError",
    "JudgeRequest",
    "JudgeUsage",
    "PooledJudge",
    "Verdict",
    "VerdictCache",
    "VerdictCacheError",
    "VerdictCacheWarning",
    "VerdictEntry",
    "WriteResult",
    "check_label",
    "is_check",
    "make_default_judge",
    "output_text",
    "run_check",
    "trajectory_from_spans",
    "verdict_key",
]


def __getattr__(name: str) -> Any:
    # Exports load on first use: importing a piece of the judge (its types) stays cheap.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
