"""The judge's vocabulary: what it is asked (:class:`JudgeRequest`), what it answers (:class:`Verdict`),
what any backend must provide (:class:`Judge`) and how it fails (:class:`JudgeError`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pytest_flywheel.errors import FlywheelError


class JudgeError(FlywheelError):
    """The judge could not give a verdict: no API key, an API error, or a reply it could not read.

    A test whose assertion gets no verdict is an *error*, never a pass and never a silent fail.
    ``assertions`` lists the assertion sentences left without a verdict.
    """

    def __init__(self, message: str, *, assertions: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.assertions: tuple[str, ...] = tuple(assertions)


@dataclass(frozen=True)
class CallUsage:
    """Tokens and cost of one judge call (retries of the same call included)."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 1
    duration_ms: float = 0.0
    #: Judge calls these figures add up (more than one when the judge answered the same assertions
    #: several times: ``--flywheel-judge-repeats``).
    calls: int = 1


@dataclass(frozen=True)
class Verdict:
    """The judge's answer on one assertion.

    ``cached`` is True when it came from the verdict file rather than a judge call; ``key`` is its key in
    the verdict cache (None when no cache was involved); ``model`` is the model that judged, as the API
    reported it. ``usage`` is the usage of the whole judge call that produced this verdict (shared by all
    the assertions of that call; None for cached verdicts).
    """

    passed: bool
    reason: str
    confidence: float
    cached: bool = False
    assertion: str = ""
    key: str | None = None
    model: str | None = None
    usage: CallUsage | None = field(default=None, compare=False)
    #: The judge's separate answers when it answered several times (``--flywheel-judge-repeats``);
    #: ``passed`` is their majority. None for one answer.
    votes: tuple[bool, ...] | None = None
    #: True when a person's label (``flywheel/labels.jsonl``) decided ``passed``; ``judge_passed`` is
    #: then what the judge said.
    labelled: bool = False
    judge_passed: bool | None = None

    @property
    def flaky(self) -> bool:
        """Whether the judge's repeats disagreed with each other."""
        return self.votes is not None and len(set(self.votes)) > 1


@dataclass(frozen=True)
class JudgeRequest:
    """Everything the judge sees for one case: its sentence assertions, the input, output and trajectory.

    ``trajectory`` is a list of entries built by
    :func:`pytest_flywheel.judge.trajectory.trajectory_from_spans`. ``label`` (a case or test id) is
    used only in error messages and verdict-file entries, never in the prompt or the cache key.
    """

    assertions: list[str]
    input: Any = None
    output: Any = None
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    label: str | None = None


@runtime_checkable
class Judge(Protocol):
    """What a judge backend provides. ``backend``, ``model``, ``prompt_version`` and ``settings`` all go
    into the verdict cache key: change one and every assertion is judged again.

    ``judge`` answers all of a request's assertions (in order, one :class:`Verdict` each) in one call
    and raises :class:`JudgeError` when it cannot. ``submit`` does the same on a thread pool so that the
    calls of different cases overlap. Subclass :class:`PooledJudge` to get ``submit`` for free.
    """

    backend: str
    model: str
    prompt_version: str
    settings: dict[str, Any]

    def judge(self, request: JudgeRequest) -> list[Verdict]: ...

    def submit(self, request: JudgeRequest) -> Future[list[Verdict]]: ...


@dataclass
class JudgeUsage:
    """The judge's share of a test, a judge or a session: verdicts served from the cache and judged
    anew, the calls made, their tokens (cache reads and writes counted as input) and cost.

    The one usage counter of the package; thread-safe (judge calls finish on pool threads).
    """

    cached: int = 0
    new: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_call(self, usage: CallUsage) -> None:
        """Count one judge call."""
        with self._lock:
            self._add_call(usage)

    def _add_call(self, usage: CallUsage) -> None:
        self.calls += usage.calls
        self.input_tokens += usage.input_tokens + usage.cache_read_tokens + usage.cache_creation_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd += usage.cost_usd

    def add_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        """Count verdicts: cached ones, new ones, and each call behind the new ones once (the verdicts
        of one call share its :class:`CallUsage`)."""
        seen: set[int] = set()
        with self._lock:
            for verdict in verdicts:
                if verdict.cached:
                    self.cached += 1
                    continue
                self.new += 1
                usage = verdict.usage
                if usage is not None and id(usage) not in seen:
                    seen.add(id(usage))
                    self._add_call(usage)

    def add(self, other: JudgeUsage) -> None:
        """Add another counter's figures (a test's to a session's)."""
        figures = other.as_dict()
        with self._lock:
            self.cached += figures["cached"]
            self.new += figures["new"]
            self.calls += figures["calls"]
            self.input_tokens += figures["input_tokens"]
            self.output_tokens += figures["output_tokens"]
            self.cost_usd += figures["cost_usd"]

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON data (``tokens`` is input + output; cost rounded to a millionth)."""
        with self._lock:
            return {
                "cached": self.cached,
                "new": self.new,
                "calls": self.calls,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "tokens": self.input_tokens + self.output_tokens,
                "cost_usd": round(self.cost_usd, 6),
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeUsage:
        """The inverse of :meth:`as_dict` (what travels on an xdist report)."""
        return cls(
            cached=int(data.get("cached", 0)),
            new=int(data.get("new", 0)),
            calls=int(data.get("calls", 0)),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
        )
