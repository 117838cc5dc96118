"""vcrpy's transport patches, installed once and pointed at whichever case cassette is open.

vcrpy opens a cassette by building its patchers (trying to import every HTTP library it knows) and
patching them in, and closes it by patching them out again. Done for every case of a 1,000-case suite,
that was most of a warm run's replay time. Here the patchers are built once per process, against
:data:`CURRENT`, a stand-in cassette that forwards to the case cassette open at the moment: opening a
case cassette only points :data:`CURRENT` at it.

While a case cassette is open, an httpx/httpx2 request is first offered to it (its
``flywheel_answer`` plays a matching recorded response); only what it does not answer goes through
vcrpy's stub, which refuses (a miss) or records it.

While the patches are in but no case cassette is open (between two cases, or a judge thread's call
after its case closed), a request goes to the real transport: an httpx/httpx2 transport's own method
is called directly, and any other patched library finds the stand-in playing nothing, refusing
nothing and recording nothing.

Who takes the patches out:

* a replay session opened on its own (:func:`pytest_flywheel.replay.replay_case` outside pytest) puts
  them in when it opens and takes them out when it closes, as vcrpy did;
* a :class:`PatchHold` (the pytest plugin takes one while it runs suite cases one after another) keeps
  them in between sessions; releasing the last hold takes them out unless a session is open.

The plugin releases its hold before any test that is not a suite case runs, and at session end, so a
plain test never sees a patched transport.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import types
from typing import Any


def _vcrpy_response_builder() -> Any:
    """How vcrpy's httpx stub turns a recorded response into the transport's response, as
    ``(recorded, httpx_module) -> Response``; None for a vcrpy without it (every request then goes
    through vcrpy's stub, as before)."""
    try:
        from vcr.stubs.httpx_stubs import _deserialize_response
    except ImportError:  # pragma: no cover - depends on the vcrpy version
        return None
    try:
        if list(inspect.signature(_deserialize_response).parameters) != ["vcr_response", "httpx"]:
            return None  # pragma: no cover - depends on the vcrpy version
    except (TypeError, ValueError):  # pragma: no cover
        return None
    return _deserialize_response


_deserialize_response = _vcrpy_response_builder()

_lock = threading.RLock()


class _CurrentCassette:
    """The cassette vcrpy's transport stubs talk to: the innermost open case cassette, or none.

    vcrpy's stubs use ``can_play_response_for``, ``play_response``, ``write_protected``,
    ``filter_request`` and ``append``; with no cassette open they let the request through.
    """

    # Read by vcrpy's patcher builder (it names the connection classes it builds after the path).
    _path = "<pytest-flywheel: the open case cassette>"
    custom_patches: tuple[Any, ...] = ()
    skip_patchers: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._open: list[Any] = []

    @property
    def cassette(self) -> Any:
        """The innermost open cassette, or None."""
        open_now = self._open
        return open_now[-1] if open_now else None

    def push(self, cassette: Any) -> None:
        self._open.append(cassette)

    def remove(self, cassette: Any) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index] is cassette:
                del self._open[index]
                return

    @property
    def depth(self) -> int:
        return len(self._open)

    # -- what the stubs call -------------------------------------------------------------------------

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
        open_now = self.__dict__.get("_open")
        if not open_now:
            raise AttributeError(name)
        return getattr(open_now[-1], name)


#: The stand-in every patched transport consults.
CURRENT = _CurrentCassette()

_patchers: list[Any] | None = None
_installed = False
_holds = 0


#: What a cassette's ``flywheel_answer`` returns for a request that goes to the real transport.
PASS_THROUGH: Any = object()


def _httpx_of(request: Any) -> Any:
    """The module (``httpx`` or ``httpx2``) a request object comes from."""
    return sys.modules[type(request).__module__.partition(".")[0]]


def _play(cassette: Any, request: Any, body: bytes, httpx: Any) -> Any:
    """The recorded response for ``request`` as the transport returns it, :data:`PASS_THROUGH`, or
    None when vcrpy's own stub must handle the request (a miss to refuse, or one to record)."""
    answer = getattr(cassette, "flywheel_answer", None)
    if answer is None or _deserialize_response is None:
        return None
    played = answer(request.method, str(request.url), request.headers, body)
    if played is None or played is PASS_THROUGH:
        return played
    return _deserialize_response(played, httpx)


def _straight_through_when_closed(replacement: Any) -> Any:
    """vcrpy's replacement of an httpx/httpx2 transport method, with two short cuts.

    While no case cassette is open, the real method is called directly (vcrpy's stub would read the
    whole request and response into memory first). While one is, the cassette is asked first
    (``flywheel_answer``: a recorded response found with replay's own matching, not vcrpy's request
    objects, filters and matcher calls, which cost several times the SDK's own handling of a reply);
    only what it does not answer goes through vcrpy's stub, which refuses or records it.
    """
    real = replacement.__wrapped__

    if inspect.iscoroutinefunction(real):

        @functools.wraps(real)
        async def handle_async(transport: Any, request: Any) -> Any:
            cassette = CURRENT.cassette
            if cassette is None:
                return await real(transport, request)
            httpx = _httpx_of(request)
            # Read the body as vcrpy's stub does, and put it back for whoever reads it next.
            body = b"".join([part async for part in request.stream])
            request.stream = httpx.ByteStream(body)
            played = _play(cassette, request, body, httpx)
            if played is PASS_THROUGH:
                return await real(transport, request)
            if played is not None:
                return played
            return await replacement(transport, request)

        return handle_async

    @functools.wraps(real)
    def handle(transport: Any, request: Any) -> Any:
        cassette = CURRENT.cassette
        if cassette is None:
            return real(transport, request)
        httpx = _httpx_of(request)
        body = b"".join(request.stream)
        request.stream = httpx.ByteStream(body)
        played = _play(cassette, request, body, httpx)
        if played is PASS_THROUGH:
            return real(transport, request)
        if played is not None:
            return played
        return replacement(transport, request)

    return handle


def _make_vcr_request(real_request: Any, real_request_body: bytes) -> Any:
    """vcrpy's request for an httpx/httpx2 request, its headers read in one pass.

    vcrpy's own builds its headers by looking each name up in the httpx ``Headers``, a scan of every
    header per name; ``items()`` gives the same names (lower-cased, in order) and values (repeated
    headers joined with ", ") at once.
    """
    from vcr.request import Request

    return Request(
        real_request.method, str(real_request.url), real_request_body, dict(real_request.headers.items())
    )


def _is_httpx_transport_method(replacement: Any) -> bool:
    """Whether a patcher's replacement is vcrpy's stub of an httpx/httpx2 transport's
    ``handle_request`` or ``handle_async_request`` (other libraries' stubs take other arguments)."""
    real = getattr(replacement, "__wrapped__", None)
    return (
        isinstance(replacement, types.FunctionType)
        and callable(real)
        and getattr(real, "__name__", "") in ("handle_request", "handle_async_request")
        and str(getattr(real, "__module__", "")).partition(".")[0] in ("httpx", "httpx2")
    )


def _build_patchers() -> list[Any]:
    global _patchers
    if _patchers is None:
        from vcr.patch import CassettePatcherBuilder

        patchers = list(CassettePatcherBuilder(CURRENT).build())
        for patcher in patchers:
            # httpx/httpx2 transports are patched method by method (vcrpy wraps the real method and
            # keeps it as __wrapped__); connection classes (http.client) are left as vcrpy made them.
            replacement = getattr(patcher, "new", None)
            if _is_httpx_transport_method(replacement):
                patcher.new = _straight_through_when_closed(replacement)
        from unittest import mock

        from vcr.stubs import httpx_stubs

        if callable(getattr(httpx_stubs, "_make_vcr_request", None)):
            patchers.append(mock.patch.object(httpx_stubs, "_make_vcr_request", _make_vcr_request))
        _patchers = patchers
    return _patchers


def _install() -> None:
    global _installed
    if _installed:
        return
    entered: list[Any] = []
    try:
        for patcher in _build_patchers():
            patcher.__enter__()
            entered.append(patcher)
    except BaseException:
        for patcher in reversed(entered):
            patcher.__exit__(None, None, None)
        raise
    _installed = True


def _uninstall() -> None:
    global _installed
    if not _installed:
        return
    _installed = False
    for patcher in reversed(_build_patchers()):
        patcher.__exit__(None, None, None)


def _settle() -> None:
    """Take the patches out when nothing needs them any more."""
    if _holds == 0 and CURRENT.depth == 0:
        _uninstall()


def is_installed() -> bool:
    """Whether vcrpy's patches are in the HTTP transports now."""
    return _installed


def open_cassette(cassette: Any) -> None:
    """Patch the transports (if not already) and answer from ``cassette`` until :func:`close_cassette`."""
    with _lock:
        _install()
        CURRENT.push(cassette)


def close_cassette(cassette: Any) -> None:
    """Stop answering from ``cassette``; the patches go unless a hold or another open cassette keeps them."""
    with _lock:
        CURRENT.remove(cassette)
        _settle()


class PatchHold:
    """Keeps the transport patches in between replay sessions, until :meth:`release`.

    :meth:`acquire` and :meth:`release` may each be called any number of times: a hold counts once.
    """

    def __init__(self) -> None:
        self.held = False

    def acquire(self) -> None:
        global _holds
        with _lock:
            if not self.held:
                self.held = True
                _holds += 1

    def release(self) -> None:
        global _holds
        with _lock:
            if self.held:
                self.held = False
                _holds -= 1
                _settle()
