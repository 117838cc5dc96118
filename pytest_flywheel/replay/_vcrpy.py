"""The one module that uses vcrpy's names beyond its public API, each checked at import.

Replay's fast path keeps vcrpy's transport patches in from one case to the next and answers a recorded
request without vcrpy's request objects (see :mod:`pytest_flywheel.replay.transport`). For that it
needs, from vcrpy:

* ``vcr.patch.CassettePatcherBuilder(cassette).build()``: the patchers vcrpy enters around a cassette;
* that the httpx/httpx2 transport stubs among them keep the real method as ``__wrapped__``;
* ``vcr.stubs.httpx_stubs._deserialize_response(recorded, httpx_module)``: a recorded response as the
  transport returns it;
* ``Cassette._save()``: saving a cassette opened without vcrpy's context manager;
* that the builder reads ``_path``, ``custom_patches`` and ``skip_patchers`` off the cassette it is
  given (:class:`ForwardingCassette` provides them).

:data:`MISSING` lists what this vcrpy lacks (empty when the fast path can be used). Without the fast
path, replay opens each cassette through vcrpy's public context manager (``Cassette.use(...)``, which
patches the transports in and out every time and plays responses its own way): slower, same results
(tests/replay/test_fast_path.py runs the same cases both ways).
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

from vcr.cassette import Cassette


def _patcher_builder() -> Any:
    try:
        from vcr.patch import CassettePatcherBuilder
    except ImportError:
        return None
    return CassettePatcherBuilder if callable(getattr(CassettePatcherBuilder, "build", None)) else None


def _response_builder() -> Callable[[Any, Any], Any] | None:
    try:
        from vcr.stubs.httpx_stubs import _deserialize_response
    except ImportError:
        return None
    try:
        parameters = list(inspect.signature(_deserialize_response).parameters)
    except (TypeError, ValueError):
        return None
    if parameters != ["vcr_response", "httpx"]:
        return None
    return _deserialize_response  # type: ignore[no-any-return]


_BUILDER = _patcher_builder()
_DESERIALIZE = _response_builder()
_SAVE = getattr(Cassette, "_save", None)

MISSING: tuple[str, ...] = tuple(
    name
    for name, found in (
        ("vcr.patch.CassettePatcherBuilder", _BUILDER),
        ("vcr.stubs.httpx_stubs._deserialize_response(vcr_response, httpx)", _DESERIALIZE),
        ("vcr.cassette.Cassette._save", _SAVE),
    )
    if found is None
)


class ForwardingCassette:
    """The cassette vcrpy's patchers are built against in the fast path: it forwards to the innermost
    open case cassette (``open``), or to none (then requests go to the real transport and nothing is
    recorded).

    vcrpy's patcher builder reads ``_path``, ``custom_patches`` and ``skip_patchers``; its stubs call
    ``can_play_response_for``, ``play_response``, ``write_protected``, ``filter_request`` and
    ``append``.
    """

    _path = "<pytest-flywheel: the open case cassette>"
    custom_patches: tuple[Any, ...] = ()
    skip_patchers: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.open: list[Any] = []

    @property
    def cassette(self) -> Any:
        open_now = self.open
        return open_now[-1] if open_now else None

    def remove(self, cassette: Any) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index] is cassette:
                del self.open[index]
                return

    def can_play_response_for(self, request: Any) -> Any:
        cassette = self.cassette
        return cassette.can_play_response_for(request) if cassette is not None else False

    def play_response(self, request: Any) -> Any:
        cassette = self.cassette
        if cassette is None:
            from vcr.errors import UnhandledHTTPRequestError

            raise UnhandledHTTPRequestError(f"No cassette is open to play a response to {request!r}.")
        return cassette.play_response(request)

    @property
    def write_protected(self) -> bool:
        cassette = self.cassette
        return bool(cassette.write_protected) if cassette is not None else False

    def filter_request(self, request: Any) -> Any:
        cassette = self.cassette
        return cassette.filter_request(request) if cassette is not None else request

    def append(self, request: Any, response: Any) -> None:
        cassette = self.cassette
        if cassette is not None:
            cassette.append(request, response)

    def __getattr__(self, name: str) -> Any:
        # Anything else vcrpy may read (record_mode, play_counts...) comes from the open cassette.
        open_now = self.__dict__.get("open")
        if not open_now:
            raise AttributeError(name)
        return getattr(open_now[-1], name)


def fast_path_problem() -> str | None:
    """Why the fast path cannot be used with this vcrpy, or None when it can."""
    if not MISSING:
        return None
    from importlib.metadata import version

    return f"vcrpy {version('vcrpy')} lacks {', '.join(MISSING)}"


def build_patchers(cassette: Any) -> list[Any]:
    """vcrpy's patchers for ``cassette`` (a stand-in that forwards to the open case cassette)."""
    assert _BUILDER is not None, "build_patchers() is part of the fast path; check fast_path_problem()"
    return list(_BUILDER(cassette).build())


def httpx_transport_stub(patcher: Any) -> tuple[Any, Any] | None:
    """``(vcrpy's stub, the real method)`` when ``patcher`` replaces an httpx/httpx2 transport's
    ``handle_request`` or ``handle_async_request``; None for any other patcher (connection classes,
    other libraries' stubs, or a stub that does not keep the real method as ``__wrapped__``)."""
    replacement = getattr(patcher, "new", None)
    real = getattr(replacement, "__wrapped__", None)
    if not (isinstance(replacement, types.FunctionType) and callable(real)):
        return None
    if getattr(real, "__name__", "") not in ("handle_request", "handle_async_request"):
        return None
    if str(getattr(real, "__module__", "")).partition(".")[0] not in ("httpx", "httpx2"):
        return None
    return replacement, real


def transport_response(recorded: dict[str, Any], request: Any) -> Any:
    """The recorded response (a cassette's response dict) as the request's transport returns it."""
    assert _DESERIALIZE is not None, "transport_response() is part of the fast path"
    httpx = sys.modules[type(request).__module__.partition(".")[0]]
    return _DESERIALIZE(recorded, httpx)


def save(cassette: Any) -> None:
    """Save ``cassette`` as vcrpy's context manager does on exit (only when something was recorded)."""
    assert _SAVE is not None, "save() is part of the fast path"
    _SAVE(cassette)
