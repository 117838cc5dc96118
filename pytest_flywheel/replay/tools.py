"""Function-level replay of ``@track(type="tool")`` calls from a case's cassette.

A call matches a recorded interaction with the same tool name and the same arguments as data
(after redaction, as the recorded ones were redacted); repeated identical calls take the recorded
interactions in order. A recorded result is returned; a recorded error is raised again, as the same
exception type when it can be imported and built from its message, else as
:class:`~pytest_flywheel.replay.errors.RecordedToolError`. A call the cassette does not hold runs for
real and is recorded when the record mode allows it, and is a miss otherwise.

A *live* tool (named in ``live``, or every tool with ``"all"``) is never replayed: it runs for real in
every mode, so a change to its code is what the agent sees. Its recorded calls are kept as they are,
except in a mode that records, where its new calls take the place of the recorded ones.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.canonical import json_data
from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay.errors import RecordedToolError
from pytest_flywheel.replay.matching import json_equal

#: True while a tool call this replayer let through is running: tools it calls in turn are neither
#: replayed nor recorded. Replay answers the outer call from the cassette, so the inner ones never run
#: on replay; recording them too would leave interactions no replay plays (the cassette written from a
#: trace leaves them out for the same reason, and so does the trajectory).
_inside_tool_call: ContextVar[bool] = ContextVar("flywheel_inside_tool_call", default=False)


@dataclass
class ToolInteraction:
    """One recorded tool call."""

    tool: str
    arguments: dict[str, Any]
    result: Any = None
    error: dict[str, Any] | None = None
    loaded: bool = False
    played: bool = False
    #: Recorded from a live tool's call: it replaces the recorded calls of that tool and arguments.
    live: bool = False

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tool": self.tool, "arguments": self.arguments}
        if self.error is not None:
            data["error"] = self.error
        else:
            data["result"] = self.result
        return data

    def matches(self, tool: str, arguments: dict[str, Any]) -> bool:
        return self.tool == tool and json_equal(self.arguments, arguments)


def error_type_name(exc: BaseException) -> str:
    """``module.QualName`` of an exception's type (just the name for builtins)."""
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _resolve_exception_type(name: str) -> type[Exception] | None:
    candidate: Any = None
    if "." not in name:
        candidate = getattr(builtins, name, None)
    else:
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                target: Any = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                target = getattr(target, attribute, None)
            candidate = target
            break
    if isinstance(candidate, type) and issubclass(candidate, Exception):
        return candidate
    return None


def _printing_as_recorded(kind: type[Exception], message: str) -> Exception | None:
    """An exception of ``kind`` whose ``str()`` is ``message``, the text it had when recorded.

    An agent that catches a tool's exception often puts ``str(exc)`` into its next request, so a
    replayed error must print exactly as the recorded one did, or that request misses its cassette.
    ``kind(message)`` does for most types; ``KeyError`` prints the repr of its argument (``"'x'"``), so
    its argument is read back from that repr; a type with its own ``__str__`` gets a subclass of the
    same name that prints the recorded text (``except kind`` still catches it).
    """
    try:
        built = kind(message)
        if str(built) == message:
            return built
    except Exception:  # a constructor that wants more than a message
        return None
    try:
        argument = ast.literal_eval(message)
        built = kind(argument)
        if str(built) == message:
            return built
    except Exception:  # not a literal, or not a value this type is built from
        pass
    printing = type(kind.__name__, (kind,), {"__str__": lambda self: message})
    printing.__module__, printing.__qualname__ = kind.__module__, kind.__qualname__
    try:
        return printing(message)  # type: ignore[no-any-return]
    except Exception:
        return None


def rebuild_error(error: dict[str, Any]) -> BaseException:
    """The exception a recorded ``{type, message}`` error stands for, printing as it did."""
    name, message = str(error.get("type") or "Exception"), str(error.get("message") or "")
    kind = _resolve_exception_type(name)
    rebuilt = _printing_as_recorded(kind, message) if kind is not None else None
    return rebuilt if rebuilt is not None else RecordedToolError(name, message)


class ToolMiss(Exception):
    """Internal: a tool call the cassette does not hold, in a mode that may not record it."""

    def __init__(self, tool: str, arguments: dict[str, Any], *, already_played: bool) -> None:
        super().__init__(tool)
        self.tool = tool
        self.arguments = arguments
        self.already_played = already_played


def _record_nothing() -> bool:
    return False


def _no_session(miss: ToolMiss) -> BaseException:
    return RuntimeError(f"tool {miss.tool!r} was called after its replay session closed")


class ToolReplayer:
    """The tool interceptor of a replay session (satisfies ``pytest_flywheel.tracing.hooks.ToolInterceptor``).

    ``replay``: whether recorded interactions are played back (not in the ``all``/``rewrite`` modes);
    ``record``: whether calls the cassette lacks run for real and are recorded (a callable, since
    ``once`` decides by whether the file existed, known only once it is loaded).
    ``on_miss`` is called with a :class:`ToolMiss` and returns the exception to raise to the caller.
    """

    def __init__(
        self,
        *,
        redactor: Redactor,
        replay: bool,
        record: Callable[[], bool],
        on_miss: Callable[[ToolMiss], BaseException],
        live: frozenset[str] = frozenset(),
    ) -> None:
        self.redactor = redactor
        self.replay = replay
        self.live = live
        self._record = record
        self._on_miss = on_miss
        self.loaded: list[ToolInteraction] = []
        self.recorded: list[ToolInteraction] = []
        #: Every call made in this session, in order: ``{"tool", "arguments", "source"}`` where
        #: source is ``"replayed"``, ``"recorded"``, ``"live"`` or ``"missed"``.
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def load(self, interactions: list[dict[str, Any]]) -> None:
        self.loaded = [
            ToolInteraction(
                tool=item["tool"],
                arguments=dict(item.get("arguments") or {}),
                result=item.get("result"),
                error=item.get("error"),
                loaded=True,
            )
            for item in interactions
        ]

    def detach(self) -> None:
        """Drop the session's callbacks once it is closed (no call can reach the replayer any more),
        so that the session and its replayer do not hold each other alive."""
        self._record = _record_nothing
        self._on_miss = _no_session

    @property
    def dirty(self) -> bool:
        return bool(self.recorded)

    def to_save(self, *, keep_loaded: bool, replace_matching: bool) -> list[dict[str, Any]]:
        """The interactions to write: the loaded ones (unless ``keep_loaded`` is false; without those
        a new recording matches when ``replace_matching``), then this session's new ones."""
        kept: list[ToolInteraction] = []
        if keep_loaded:
            kept = [
                old
                for old in self.loaded
                if not any(
                    (replace_matching or new.live) and new.matches(old.tool, old.arguments)
                    for new in self.recorded
                )
            ]
        return [item.as_data() for item in kept + self.recorded]

    # -- matching ----------------------------------------------------------------------------------

    def _is_live(self, tool: str) -> bool:
        return bool(self.live) and (tool in self.live or "all" in self.live)

    def _lookup(self, tool: str, arguments: dict[str, Any]) -> ToolInteraction | ToolMiss | None:
        """A recorded interaction to play, a miss, or None (call for real and record)."""
        with self._lock:
            if self._is_live(tool):
                for interaction in self.loaded:  # run again instead: not left over as unplayed
                    if not interaction.played and interaction.matches(tool, arguments):
                        interaction.played = True
                        break
                self.calls.append({"tool": tool, "arguments": arguments, "source": "live"})
                return None
            if self.replay:
                already_played = False
                for interaction in self.loaded:
                    if interaction.matches(tool, arguments):
                        if not interaction.played:
                            interaction.played = True
                            self.calls.append({"tool": tool, "arguments": arguments, "source": "replayed"})
                            return interaction
                        already_played = True
                if not self._record():
                    self.calls.append({"tool": tool, "arguments": arguments, "source": "missed"})
                    return ToolMiss(tool, arguments, already_played=already_played)
            self.calls.append({"tool": tool, "arguments": arguments, "source": "recorded"})
            return None

    def _store(
        self, tool: str, arguments: dict[str, Any], *, result: Any = None, exc: BaseException | None = None
    ) -> None:
        live = self._is_live(tool)
        if live and not self._record():
            return  # a live tool in a run that records nothing: its recorded calls stay as they are
        interaction = ToolInteraction(tool=tool, arguments=arguments, played=True, live=live)
        if exc is not None:
            interaction.error = {"type": error_type_name(exc), "message": self.redactor.text(str(exc))}
        else:
            interaction.result = self.redactor.value(json_data(result))
        with self._lock:
            self.recorded.append(interaction)

    def _play(self, interaction: ToolInteraction) -> Any:
        if interaction.error is not None:
            raise rebuild_error(interaction.error)
        return interaction.result

    # -- the ToolInterceptor protocol --------------------------------------------------------------

    def intercept(self, *, tool: str, arguments: dict[str, Any], call: Callable[[], Any]) -> Any:
        if _inside_tool_call.get():
            return call()  # a tool inside a tool: the outer call is the one recorded and replayed
        matchable = self.redactor.value(arguments)
        found = self._lookup(tool, matchable)
        if isinstance(found, ToolMiss):
            raise self._on_miss(found)
        if found is not None:
            return self._play(found)
        token = _inside_tool_call.set(True)
        try:
            result = call()
        except Exception as exc:
            self._store(tool, matchable, exc=exc)
            raise
        finally:
            _inside_tool_call.reset(token)
        self._store(tool, matchable, result=result)
        return result

    async def intercept_async(
        self, *, tool: str, arguments: dict[str, Any], call: Callable[[], Awaitable[Any]]
    ) -> Any:
        if _inside_tool_call.get():
            return await call()
        matchable = self.redactor.value(arguments)
        found = self._lookup(tool, matchable)
        if isinstance(found, ToolMiss):
            raise self._on_miss(found)
        if found is not None:
            return self._play(found)
        token = _inside_tool_call.set(True)
        try:
            result = await call()
        except Exception as exc:
            self._store(tool, matchable, exc=exc)
            raise
        finally:
            _inside_tool_call.reset(token)
        self._store(tool, matchable, result=result)
        return result
