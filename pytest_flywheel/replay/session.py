"""Replaying a case: its cassette open around a run of the agent.

::

    from pytest_flywheel.redaction import build_redactor
    from pytest_flywheel.replay import replay_case

    with replay_case(Path("flywheel/cassettes/support/late-order.yaml"), record_mode="none") as session:
        try:
            output = agent(**case.input)
        finally:
            session.raise_for_miss()    # the real reason, not the SDK's vague connection error

Inside the block every HTTP request made through httpx/httpx2 (the Anthropic SDK's transport) is
answered from the cassette (vcrpy), and every ``@track(type="tool")`` call from its tool
interactions. What the cassette lacks is recorded when the record mode allows it, and is a miss
otherwise: the request fails at once with a :class:`~pytest_flywheel.replay.errors.CassetteMissError`
that the SDK neither retries nor wraps, and :meth:`ReplaySession.raise_for_miss` raises it again
after the agent is done, in case the agent caught it. A request that would have to be recorded but
carries no credential (no API key) is refused the same way, with a
:class:`~pytest_flywheel.replay.errors.RecordingError` that says what to do.

No key is needed to replay: while a session is open, a client wrapped by
:func:`pytest_flywheel.track_anthropic` that has no credential sends its requests without one (the
cassette answers them; nothing leaves the process). The session changes no environment variable and
nothing another thread can see (the judge's threads, the user's other tests).

Requests carrying the header ``x-flywheel-judge: 1`` (the LLM judge's own calls) pass through
untouched: never matched, never recorded, never a miss.

The HTTP transports are patched by a :class:`~pytest_flywheel.replay.transport.TransportPatches`
(the session's own, or one its owner shares between sessions to keep the patches in between cases).
Run one case's agent at a time per process.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection
from contextvars import ContextVar, Token
from pathlib import Path
from types import TracebackType
from typing import Any

import anthropic
from vcr.cassette import Cassette
from vcr.filters import decode_response
from vcr.matchers import method as method_matcher
from vcr.record_mode import RecordMode as VcrRecordMode

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay.cassette_file import AtomicPersister, CassetteSerializer, read_cassette_bytes
from pytest_flywheel.replay.closest import diagnose
from pytest_flywheel.replay.errors import CassetteMissError, RecordingError
from pytest_flywheel.replay.matching import RequestKey, api_path_matcher, api_query_matcher, json_body
from pytest_flywheel.replay.misses import (
    describe_request,
    missing_cassette_error,
    recording_needs_key_error,
    request_miss_error,
    tool_miss_error,
)
from pytest_flywheel.replay.modes import RecordMode, check_record_mode
from pytest_flywheel.replay.tools import ToolMiss, ToolReplayer
from pytest_flywheel.replay.transport import PASS_THROUGH, TransportPatches
from pytest_flywheel.tracing.hooks import replay_active, tool_interceptor

JUDGE_HEADER = "x-flywheel-judge"

_VCR_MODES = {
    "none": VcrRecordMode.NONE,
    "once": VcrRecordMode.ONCE,
    "new_episodes": VcrRecordMode.NEW_EPISODES,
    "all": VcrRecordMode.ALL,
    "rewrite": VcrRecordMode.ALL,
}
#: What a live request must share with a recorded one (vcrpy matchers, in the order vcrpy runs them).
_MATCH_ON = (method_matcher, api_path_matcher, api_query_matcher, json_body)
#: Request headers that carry a credential to the Anthropic API.
_CREDENTIAL_HEADERS = ("authorization", "x-api-key")

# Headers that only say which client sent a request, or change on every response: left out of what
# is recorded, so that re-recording a case shows in its diff only what really changed.
_NOISY_REQUEST_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding", "user-agent"})
_NOISY_RESPONSE_HEADERS = frozenset({"date", "server", "connection", "keep-alive", "cf-ray", "server-timing"})


def _without(headers: dict[str, Any], names: frozenset[str], prefix: str | None = None) -> dict[str, Any]:
    return {
        name: value
        for name, value in headers.items()
        if name.lower() not in names and not (prefix and name.lower().startswith(prefix))
    }


class RequestMissError(CassetteMissError, anthropic.AnthropicError):
    """A cassette miss raised inside the HTTP transport.

    Being an ``anthropic.AnthropicError`` (and not an ``APIConnectionError``), the SDK lets it through
    as it is: no wrapping into a vague connection error, no retries with back-off.
    """


class TransportRecordingError(RecordingError, anthropic.AnthropicError):
    """A request that must be recorded but cannot be sent, raised inside the HTTP transport (like
    :class:`RequestMissError`, the SDK lets it through as it is)."""


def _has_content_encoding(headers: Any) -> bool:
    return isinstance(headers, dict) and any(
        str(name).lower() == "content-encoding" and value for name, value in headers.items()
    )


def is_judge_request(headers: Any) -> bool:
    value = headers.get(JUDGE_HEADER) if headers is not None else None
    return value is not None and str(value).strip().lower() in ("1", "true", "yes")


def has_credential(headers: Any) -> bool:
    """Whether request headers carry an API key or a bearer token."""
    return headers is not None and any(str(headers.get(name) or "").strip() for name in _CREDENTIAL_HEADERS)


class _RecordHooks:
    """vcrpy's ``before_record_request`` and ``before_record_response`` for one session.

    Kept apart from the session, so that the cassette holding them does not hold the session: a
    closed session and its cassette are freed at once, not left for the cyclic garbage collector
    (a 1,000-case run would leave it some 40,000 objects).
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        #: True while the cassette file is being loaded.
        self.loading = False
        #: The last two (request, filtered request) pairs, newest first (see :meth:`request`).
        self.filtered: tuple[tuple[Any, Any], ...] = ()
        #: Request bodies redacted in this session, by content: a replayed request's body is the one
        #: loaded from the file, and vcrpy filters it again, so each is parsed and redacted once.
        self.bodies: dict[bytes | str, bytes | str] = {}

    def forget(self) -> None:
        """Drop what the session remembered (it is closed)."""
        self.filtered = ()
        self.bodies = {}

    def request(self, request: Any) -> Any:
        """vcrpy's ``before_record_request``: the request as it is matched and recorded.

        vcrpy filters one live request several times (can it play? is it in the cassette? which
        response?), and its ``in`` check filters the filtered request once more; the last two answers
        are kept, by request object. A live request is copied before the hook changes it (the hook
        only assigns attributes, so a shallow copy keeps the original intact); a request just loaded
        from the file is nobody else's and is filtered as it is.
        """
        if self.loading:
            return self._redact_request(request)
        remembered = self.filtered
        for raw, filtered in remembered:
            if raw is request:
                return filtered
        filtered = self._redact_request(copy.copy(request))
        self.filtered = ((request, filtered), *remembered[:1])
        return filtered

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """vcrpy's ``before_record_response``: compressed bodies decoded, then redaction."""
        if not self.loading or _has_content_encoding(response.get("headers")):
            response = decode_response(response)  # a copy, decompressed when it needs to be
        return self._redact_response(response)

    def _redact_request(self, request: Any) -> Any:
        if is_judge_request(request.headers):
            return None
        request.uri = self.redactor.url(request.uri)
        headers = _without(dict(request.headers), _NOISY_REQUEST_HEADERS, "x-stainless-")
        request.headers = self.redactor.headers(headers)
        body = request.body
        if isinstance(body, bytes | str):
            request.body = self.body(body)
        return request

    def body(self, body: bytes | str) -> bytes | str:
        """A request body, redacted (each distinct body once per session)."""
        redacted = self.bodies.get(body)
        if redacted is None:
            if isinstance(body, bytes):  # (two calls: Redactor.body returns the type it is given)
                redacted = self.redactor.body(body)
            else:
                redacted = self.redactor.body(body)
            self.bodies[body] = redacted
        return redacted

    def _redact_response(self, response: dict[str, Any]) -> dict[str, Any]:
        headers = _without(dict(response.get("headers") or {}), _NOISY_RESPONSE_HEADERS)
        response["headers"] = self.redactor.headers(headers)
        body = response.get("body")
        if isinstance(body, dict) and isinstance(body.get("string"), bytes | str):
            redacted = self.redactor.body(body["string"])
            if redacted != body["string"]:
                body["string"] = redacted
                for name in list(response["headers"]):
                    if name.lower() == "content-length":
                        response["headers"][name] = [
                            str(len(redacted.encode() if isinstance(redacted, str) else redacted))
                        ]
        return response


class _LoadingHooks:
    """While a cassette file loads, the session's record hooks (see :meth:`_MissAwareCassette.append`)."""

    current: ContextVar[_RecordHooks | None] = ContextVar("flywheel_cassette_loading", default=None)


class _MissAwareCassette(Cassette):  # type: ignore[misc]
    """vcrpy's cassette, telling the session about a request it cannot answer.

    * vcrpy's transport stubs call ``filter_request`` only to decide whether to refuse a request the
      cassette cannot answer (``write_protected and filter_request(request)``); raising here replaces
      vcrpy's ``CannotOverwriteExistingCassetteException``, which the SDK would wrap and retry.
    * ``can_play_response_for`` is their first question: a request it cannot answer in a mode that
      records is about to go to the API, and one that carries no credential is refused here (it
      could only come back 401), so that recording with no key is one clear error.
    """

    #: The open session (None once it is closed).
    flywheel_session: ReplaySession | None = None
    #: The session's record hooks (redaction), for :meth:`flywheel_answer`.
    flywheel_hooks: _RecordHooks | None = None
    #: Recorded requests' match keys, by index in ``data`` (worked out on first use).
    flywheel_keys: dict[int, RequestKey] | None = None

    def flywheel_answer(self, method: str, uri: str, headers: Any, body: bytes) -> Any:
        """The recorded response vcrpy would play for this live request, found without vcrpy's
        request machinery (the fast path of :mod:`pytest_flywheel.replay.transport` asks this first).

        Returns :data:`~pytest_flywheel.replay.transport.PASS_THROUGH` for the judge's own requests
        (vcrpy would let them through, unrecorded), the response (counted as played, as vcrpy's
        ``play_response`` counts it) when an unplayed recorded request matches, and None otherwise:
        vcrpy's own path then refuses the request (a miss) or records it, as the record mode says.
        """
        if is_judge_request(headers):
            return PASS_THROUGH
        hooks = self.flywheel_hooks
        if hooks is None or self.record_mode == VcrRecordMode.ALL:
            return None
        if not (self.rewound or self.allow_playback_repeats):
            return None
        keys = self.flywheel_keys
        if keys is None:
            keys = self.flywheel_keys = {}
        live: RequestKey | None = None
        play_counts = self.play_counts
        repeats = self.allow_playback_repeats
        for index, (stored, response) in enumerate(self.data):
            if play_counts[index] and not repeats:
                continue
            if live is None:
                live = RequestKey(method, hooks.redactor.url(uri), hooks.body(body))
            recorded = keys.get(index)
            if recorded is None:
                recorded = keys[index] = RequestKey(stored.method, stored.uri, stored.body)
            if live.matches(recorded):
                play_counts[index] += 1
                return response
        return None

    def append(self, request: Any, response: Any) -> None:
        hooks = _LoadingHooks.current.get()
        if hooks is None:
            super().append(request, response)
            return
        # Loading the file: the request and response were just parsed from it and nothing else holds
        # them, so vcrpy's defensive deep copy of the response is left out; the hooks run as always.
        request = hooks.request(request)
        if not request:
            return
        self.data.append((request, hooks.response(response)))
        self.dirty = True

    def filter_request(self, request: Any) -> Any:
        filtered = super().filter_request(request)
        session = self.flywheel_session
        if filtered is not None and self.write_protected and session is not None:
            raise session._request_missed(self, filtered)
        return filtered

    def can_play_response_for(self, request: Any) -> Any:
        playable = super().can_play_response_for(request)
        session = self.flywheel_session
        if playable or self.write_protected or session is None or is_judge_request(request.headers):
            return playable
        if not has_credential(request.headers):
            raise session._recording_needs_key(self, super().filter_request(request) or request)
        return playable


class _RecordedLatency:
    """A cassette's recorded run latency, loaded and to save (kept apart from the session, so that the
    cassette's serializer does not hold the session alive)."""

    def __init__(self) -> None:
        self.loaded: float | None = None
        self.to_save: float | None = None

    def load(self, run: dict[str, Any] | None) -> None:
        latency = run.get("latency_ms") if isinstance(run, dict) else None
        self.loaded = float(latency) if isinstance(latency, int | float) else None

    def saved(self) -> dict[str, Any] | None:
        latency = self.to_save if self.to_save is not None else self.loaded
        return None if latency is None else {"latency_ms": round(latency, 1)}


class ReplaySession:
    """A case's cassette, open (use :func:`replay_case`).

    ``misses`` lists every request or tool call the cassette could not answer and every request that
    could not be recorded, in order; ``tool_calls`` every tool call made (``{"tool", "arguments",
    "source"}``, source ``replayed``, ``recorded``, ``live`` or ``missed``).
    """

    def __init__(
        self,
        cassette: Path,
        *,
        record_mode: str = "none",
        redactor: Redactor | None = None,
        patches: TransportPatches | None = None,
        live_tools: Collection[str] = (),
    ) -> None:
        self.cassette_path = Path(cassette)
        self.record_mode: RecordMode = check_record_mode(record_mode)
        self.redactor = redactor or Redactor()
        self.misses: list[CassetteMissError | RecordingError] = []
        self.existed = False
        self._patches = patches
        self._tools = ToolReplayer(
            redactor=self.redactor,
            replay=self.record_mode not in ("all", "rewrite"),
            record=self._may_record,
            on_miss=self._tool_missed,
            live=frozenset(live_tools),
        )
        self._open = False
        self._hooks = _RecordHooks(self.redactor)
        self._cassette: _MissAwareCassette | None = None
        self._opened_by: TransportPatches | None = None
        self._interceptor: Any = None
        self._replay_token: Token[bool] | None = None
        self._loaded_http = 0
        self._latency = _RecordedLatency()

    # -- what the record mode allows ---------------------------------------------------------------

    def _may_record(self) -> bool:
        if self.record_mode == "none":
            return False
        if self.record_mode == "once":
            return not self.existed
        return True

    # -- misses --------------------------------------------------------------------------------------

    def _add_miss(self, error: CassetteMissError) -> CassetteMissError:
        self.misses.append(error)
        return error

    def _diagnosed_miss(self, cassette: Any, request: Any) -> CassetteMissError:
        """The miss of ``request`` (redacted): where it differs from the closest recorded request."""
        what = describe_request(request.method, request.uri, request.body)
        if not self.existed:
            return missing_cassette_error(cassette=self.cassette_path, record_mode=self.record_mode, what=what)
        # The recorded requests' match keys, as the fast path keeps them for the session: each
        # recorded body is parsed once, however many requests miss.
        keys = cassette.flywheel_keys
        if keys is None:
            keys = cassette.flywheel_keys = {}
        recorded: list[RequestKey] = []
        for index, (stored, _) in enumerate(cassette.data):
            key = keys.get(index)
            if key is None:
                key = keys[index] = RequestKey(stored.method, stored.uri, stored.body)
            recorded.append(key)
        found = diagnose(
            RequestKey(request.method, request.uri, request.body),
            recorded,
            live_path=request.path,
            recorded_paths=[stored.path for stored, _ in cassette.data],
        )
        return request_miss_error(
            cassette=self.cassette_path,
            record_mode=self.record_mode,
            what=what,
            already_played=found.already_played,
            interaction=None if found.index is None else found.index + 1,
            interactions=len(recorded),
            difference=found.difference,
            mismatch=found.mismatch,
        )

    def _request_missed(self, cassette: Any, request: Any) -> RequestMissError:
        error = self._diagnosed_miss(cassette, request)
        self._add_miss(error)
        return RequestMissError(
            str(error),
            kind=error.kind,
            cassette=error.cassette,
            record_mode=error.record_mode,
            what=error.what,
            fix=error.fix,
            difference_path=error.difference_path,
            summary=error.summary,
        )

    def _recording_needs_key(self, cassette: Any, request: Any) -> TransportRecordingError:
        """``request`` (already redacted) must be recorded, and there is no key: say so, and where it
        differs from what the cassette holds (what a key would let it record)."""
        miss = self._diagnosed_miss(cassette, request) if self.existed and cassette.data else None
        error = recording_needs_key_error(
            cassette=self.cassette_path,
            record_mode=self.record_mode,
            what=miss.what if miss is not None else describe_request(request.method, request.uri, request.body),
            differs=None if miss is None else miss.summary,
        )
        self.misses.append(error)
        return TransportRecordingError(str(error), kind=error.kind, cassette=error.cassette, fix=error.fix)

    def _tool_missed(self, miss: ToolMiss) -> CassetteMissError:
        if not self.existed:
            from pytest_flywheel.replay.misses import describe_tool_call

            error = missing_cassette_error(
                cassette=self.cassette_path,
                record_mode=self.record_mode,
                what=describe_tool_call(miss.tool, miss.arguments),
            )
        else:
            error = tool_miss_error(
                cassette=self.cassette_path,
                record_mode=self.record_mode,
                tool=miss.tool,
                arguments=miss.arguments,
                already_played=miss.already_played,
                recorded_arguments=[item.arguments for item in self._tools.loaded if item.tool == miss.tool],
            )
        return self._add_miss(error)

    def raise_for_miss(self) -> None:
        """Raise the first miss (or request that could not be recorded) of this session, if any.

        Call it after the agent returns or raises: an agent (or the SDK) may have caught the miss
        and turned it into something vaguer.
        """
        if not self.misses:
            return
        first = self.misses[0]
        message = str(first)
        if len(self.misses) > 1:
            more = len(self.misses) - 1
            message += f"\n({more} more {'miss' if more == 1 else 'misses'} followed this one.)"
        if isinstance(first, RecordingError):
            raise RecordingError(message, kind=first.kind, cassette=first.cassette, fix=first.fix) from None
        raise CassetteMissError(
            message,
            kind=first.kind,
            cassette=first.cassette,
            record_mode=first.record_mode,
            what=first.what,
            fix=first.fix,
            difference_path=first.difference_path,
            summary=first.summary,
        ) from None

    # -- what happened -------------------------------------------------------------------------------

    def note_latency(self, latency_ms: float) -> None:
        """The run's own latency: saved with the cassette when this run records anything, so that a
        later replay can check latency against what the live run took, not against the replay."""
        self._latency.to_save = float(latency_ms)

    @property
    def recorded_latency_ms(self) -> float | None:
        """What the agent's run took when the cassette was recorded (None: the cassette does not say)."""
        return self._latency.loaded

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return list(self._tools.calls)

    @property
    def http_interactions(self) -> int:
        """How many HTTP interactions the cassette holds now (recorded ones included)."""
        return len(self._cassette) if self._cassette is not None else 0

    @property
    def http_played(self) -> int:
        """How many recorded HTTP responses were played back."""
        return self._cassette.play_count if self._cassette is not None else 0

    @property
    def unplayed(self) -> dict[str, int]:
        """Recorded interactions this run did not use: ``{"http": n, "tools": m}`` (a stale cassette
        holds some; a case whose agent now makes fewer calls than when it was recorded, too)."""
        http = 0
        if self._cassette is not None:
            play_counts = self._cassette.play_counts
            http = sum(1 for index in range(self._loaded_http) if not play_counts[index])
        return {"http": http, "tools": sum(1 for item in self._tools.loaded if not item.played)}

    @property
    def vcr_cassette(self) -> Any:
        """The underlying ``vcr.cassette.Cassette`` (None before the session is opened)."""
        return self._cassette

    # -- lifecycle -------------------------------------------------------------------------------------

    def _serializer(self) -> CassetteSerializer:
        return CassetteSerializer(
            source=self.cassette_path,
            on_tools_loaded=self._tools.load,
            tools_to_save=functools.partial(
                self._tools.to_save,
                keep_loaded=self.record_mode != "rewrite",
                replace_matching=self.record_mode == "all",
            ),
            on_run_loaded=self._latency.load,
            run_to_save=self._latency.saved,
        )

    def __enter__(self) -> ReplaySession:
        if self._open:
            raise RuntimeError(f"The replay session of {self.cassette_path} is already open.")
        path = self.cassette_path
        data = read_cassette_bytes(path)  # the one read of the file; the persister loads these bytes
        self.existed = data is not None and bool(data.strip())
        if self.record_mode == "rewrite":
            data = None  # recorded afresh: nothing of the old file is used, so even one cut short is replaced
        patches = self._patches or TransportPatches()
        loading = _LoadingHooks.current.set(self._hooks)
        self._hooks.loading = True  # what the file holds was parsed just now: no defensive copies
        try:
            cassette = patches.open(
                _MissAwareCassette,
                path=str(path),
                serializer=self._serializer(),
                persister=AtomicPersister(data),
                record_mode=_VCR_MODES[self.record_mode],
                match_on=_MATCH_ON,
                before_record_request=self._hooks.request,
                before_record_response=self._hooks.response,
                drop_unused_requests=self.record_mode == "rewrite",
            )
        finally:
            self._hooks.loading = False
            _LoadingHooks.current.reset(loading)
        cassette.flywheel_session = self
        cassette.flywheel_hooks = self._hooks
        self._cassette, self._opened_by = cassette, patches
        self._loaded_http = len(cassette)  # recorded ones come first; this run's are appended
        self._open = True
        self._interceptor = tool_interceptor(self._tools)
        try:
            self._interceptor.__enter__()
        except BaseException:
            self._interceptor = None
            self._open = False
            patches.close(cassette)
            raise
        self._replay_token = replay_active.set(True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._interceptor is not None:
                self._interceptor.__exit__(exc_type, exc, tb)
        finally:
            self._interceptor = None
            if self._replay_token is not None:
                replay_active.reset(self._replay_token)
                self._replay_token = None
            cassette, was_open, patches = self._cassette, self._open, self._opened_by
            self._open = False  # the cassette stays, for its counts
            self._hooks.forget()
            if cassette is not None and was_open and patches is not None:
                try:
                    failed = any(isinstance(miss, RecordingError) for miss in self.misses)
                    if self.record_mode != "none" and not failed:
                        # vcrpy saves only when its HTTP interactions changed; new tool calls count
                        # too, and a rewrite replaces the file even when the run made no call at all.
                        # A run whose recording failed saves no half of itself.
                        if self._tools.dirty or self.record_mode == "rewrite":
                            cassette.dirty = True
                    patches.close(cassette)  # saves only when something was recorded (never in mode none)
                finally:
                    # Closed: nothing calls back into the session any more, and without these
                    # references the session, its cassette and its tools form no cycle.
                    cassette.flywheel_session = None
                    cassette.flywheel_hooks = None
                    self._opened_by = None
                    self._tools.detach()


def replay_case(
    cassette: Path,
    *,
    record_mode: str = "none",
    redactor: Redactor | None = None,
    patches: TransportPatches | None = None,
    live_tools: Collection[str] = (),
) -> ReplaySession:
    """Open ``cassette`` (a case's vcrpy cassette) for a run of the agent: use as a ``with`` block.

    ``record_mode`` is one of ``none`` (default: replay only), ``once``, ``new_episodes``, ``all`` or
    ``rewrite`` (see :data:`~pytest_flywheel.replay.RECORD_MODES`); ``redactor`` scrubs whatever is
    recorded (pass :func:`~pytest_flywheel.redaction.build_redactor` of the project's settings; without
    one, the built-in secret scrubbing still applies). ``patches`` lets several sessions share one
    :class:`~pytest_flywheel.replay.transport.TransportPatches` (each session patches and unpatches
    the transports on its own otherwise). ``live_tools`` names ``@track(type="tool")`` tools that run
    for real instead of replaying (``"all"``: every tool); a mode that records writes their new calls
    in place of the recorded ones. After the run, call :meth:`ReplaySession.raise_for_miss`.
    """
    return ReplaySession(
        cassette, record_mode=record_mode, redactor=redactor, patches=patches, live_tools=live_tools
    )
