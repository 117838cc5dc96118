"""Running one agent call: import the suite's target and call it with the case input, inside the case's
cassette (tool replay on) and an in-memory span collector, then read its trajectory off the spans.

Everything here runs on the main thread: vcrpy patches the HTTP transports process-wide, so two
cassettes must never be open at once.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.store.records import SpanRecord

if TYPE_CHECKING:
    from pytest_flywheel.redaction import Redactor
    from pytest_flywheel.replay.transport import TransportPatches

#: What the Anthropic SDK says when a client has no credential and builds a request anyway.
_NO_CREDENTIAL = "Could not resolve authentication method"


class CaseSetupError(FlywheelError):
    """A case could not be run: its target does not import, or its cassette had no answer."""


@dataclass
class AgentRun:
    """What one call of the target did."""

    output: Any = None
    #: The exception the target raised (a failure of the code under test), and formatted.
    exception: Exception | None = None
    raised: str | None = None
    spans: list[SpanRecord] = field(default_factory=list)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    #: True when ``latency_ms`` is what the run took when its cassette was recorded (replay), not the
    #: replay's own time: latency checks in replay are then as deterministic as the cassette.
    latency_recorded: bool = False
    cost_usd: float | None = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


def import_target(target: str, *, root: Path) -> Callable[..., Any]:
    """The callable named by ``module:qualname``, importing with the project root on ``sys.path``."""
    module_name, sep, qualname = target.partition(":")
    if not sep or not module_name or not qualname:
        raise CaseSetupError(
            f"target {target!r} is not of the form 'module:qualname' (for example 'support_agent.agent:answer')"
        )
    root_entry = str(root)
    if root_entry not in sys.path:
        sys.path.insert(0, root_entry)
    try:
        value: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise CaseSetupError(
            f"target {target!r}: importing module {module_name!r} failed with {type(exc).__name__}: {exc}; "
            f"check the suite's target and that the module imports from the project root {root}"
        ) from exc
    for part in qualname.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CaseSetupError(
                f"target {target!r}: module {module_name!r} has no attribute {qualname!r}; "
                "fix the suite's target"
            ) from None
    if not callable(value):
        raise CaseSetupError(f"target {target!r} is a {type(value).__name__}, not something to call")
    return value  # type: ignore[no-any-return]


def call_target(func: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """Call ``func(**arguments)``; a coroutine is run to completion on a fresh event loop."""
    __tracebackhide__ = True
    result = func(**arguments)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    __tracebackhide__ = True
    return await awaitable


class CaseReplay:
    """How a session runs agents: each call inside its cassette, through the session's transport
    patches (kept in between suite cases) and redactor, in the session's record mode."""

    def __init__(
        self,
        *,
        record_mode: str,
        redactor: Redactor,
        patches: TransportPatches,
        live_tools: tuple[str, ...] = (),
    ) -> None:
        self.record_mode = record_mode
        self.redactor = redactor
        self.patches = patches
        self.live_tools = live_tools

    def hold(self) -> None:
        """Keep the transport patches in after this case (suite cases run one after another)."""
        self.patches.hold()

    def release(self) -> None:
        """Take the transport patches out: a test that is not a suite case runs next."""
        self.patches.release()

    def run(self, func: Callable[[], Any], *, cassette: Path, record_mode: str | None = None) -> AgentRun:
        """Run ``func`` inside ``cassette`` with spans collected in memory.

        A cassette miss, or a request that could not be recorded, raises (a :class:`FlywheelError`)
        after ``func`` returns, whatever ``func`` made of it; so does a client left with no credential.
        """
        __tracebackhide__ = True
        from pytest_flywheel.judge.trajectory import trajectory_from_spans
        from pytest_flywheel.replay import replay_case
        from pytest_flywheel.tracing.hooks import collect_spans

        run = AgentRun()
        mode = record_mode or self.record_mode
        with replay_case(
            cassette, record_mode=mode, redactor=self.redactor, patches=self.patches, live_tools=self.live_tools
        ) as session:
            with collect_spans(persist=False) as collector:
                started = time.perf_counter()
                try:
                    run.output = func()
                except Exception as exc:
                    run.exception = exc
                    run.raised = self.redactor.text("".join(traceback.format_exception(exc)).rstrip())
                run.latency_ms = (time.perf_counter() - started) * 1000.0
            session.note_latency(run.latency_ms)
        session.raise_for_miss()
        if mode == "none" and session.recorded_latency_ms is not None:
            run.latency_ms, run.latency_recorded = session.recorded_latency_ms, True
        if run.exception is not None:
            self._raise_for_infrastructure(run.exception, cassette, mode)
        run.spans = list(collector.spans)
        run.trajectory = trajectory_from_spans(run.spans)
        llm_spans = [span for span in run.spans if span.type == "llm"]
        costs = [span.cost_usd for span in llm_spans]
        run.cost_usd = None if any(cost is None for cost in costs) else float(sum(c or 0.0 for c in costs))
        run.input_tokens = sum(span.input_tokens or 0 for span in llm_spans)
        run.output_tokens = sum(span.output_tokens or 0 for span in llm_spans)
        return run

    def _raise_for_infrastructure(self, exc: BaseException, cassette: Path, mode: str) -> None:
        """A failure of the test machinery rather than of the agent: the case is then an error that says
        what to do, never a failure of the agent with the SDK's traceback."""
        chain = _chain(exc)
        if any(isinstance(item, TypeError) and _NO_CREDENTIAL in str(item) for item in chain):
            raise CaseSetupError(
                "the agent's Anthropic client has no API key, and it is not wrapped by track_anthropic(), so "
                "replay cannot send its requests without one: wrap it (`client = track_anthropic("
                "anthropic.Anthropic())`, as the README shows) to replay with no key, or set "
                "ANTHROPIC_API_KEY"
            )
        if mode != "none":
            import anthropic

            for item in chain:
                if isinstance(item, anthropic.APIConnectionError):
                    from pytest_flywheel.replay.misses import unreachable_error

                    cause = item.__cause__ or item
                    raise unreachable_error(
                        cassette=cassette, record_mode=mode, problem=f"{type(cause).__name__}: {cause}"
                    )


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < 20:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found
