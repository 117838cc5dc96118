"""vcrpy's HTTP transport patches for a run of cases, owned by whoever runs the cases.

A :class:`TransportPatches` opens and closes case cassettes. It has two ways of doing it:

* **fast** (when :mod:`pytest_flywheel.replay._vcrpy` finds what it needs in the installed vcrpy):
  vcrpy's patchers are built once, against a stand-in cassette that forwards to the case cassette open
  at the moment, and stay in between cases while the owner holds them (:meth:`TransportPatches.hold`;
  the pytest plugin holds them while suite cases run one after another). Opening a case cassette only
  points the stand-in at it. An httpx/httpx2 request is first offered to the open cassette
  (``flywheel_answer``, replay's own matching over vcrpy's play counts); only what it does not answer
  goes through vcrpy's stub, which refuses it (a miss) or records it.
* **public**: each cassette is opened with vcrpy's own context manager (``Cassette.use(...)``), which
  patches the transports in and out every time and plays responses its own way.

Both give the same results; the fast one costs a replayed request what the SDK's own handling of a
reply costs. While the fast patches are in but no cassette is open (between two cases, or a judge
thread's call after its case closed), a request goes straight to the real transport.

The state (the patchers, whether they are in, the open cassettes, the hold) lives in the object; two
objects may coexist (a replay opened by a test inside a pytest session), their patches nesting.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import warnings
from typing import Any

from pytest_flywheel.replay import _vcrpy

#: What a cassette's ``flywheel_answer`` returns for a request that goes to the real transport.
PASS_THROUGH: Any = object()


class ReplaySlowPathWarning(UserWarning):
    """Replay runs without its fast path (the installed vcrpy lacks what it needs): same results, slower."""


def _byte_stream(request: Any, body: bytes) -> Any:
    httpx = sys.modules[type(request).__module__.partition(".")[0]]
    return httpx.ByteStream(body)


def _answering_first(current: _vcrpy.ForwardingCassette, stub: Any, real: Any) -> Any:
    """vcrpy's stub of an httpx/httpx2 transport method, asked only what the open cassette does not
    answer itself; with no cassette open, the real method."""

    if inspect.iscoroutinefunction(real):

        @functools.wraps(real)
        async def handle_async(transport: Any, request: Any) -> Any:
            cassette = current.cassette
            if cassette is None:
                return await real(transport, request)
            body = b"".join([part async for part in request.stream])
            request.stream = _byte_stream(request, body)  # put back for whoever reads it next
            answer = cassette.flywheel_answer(request.method, str(request.url), request.headers, body)
            if answer is PASS_THROUGH:
                return await real(transport, request)
            if answer is not None:
                return _vcrpy.transport_response(answer, request)
            return await stub(transport, request)

        return handle_async

    @functools.wraps(real)
    def handle(transport: Any, request: Any) -> Any:
        cassette = current.cassette
        if cassette is None:
            return real(transport, request)
        body = b"".join(request.stream)
        request.stream = _byte_stream(request, body)
        answer = cassette.flywheel_answer(request.method, str(request.url), request.headers, body)
        if answer is PASS_THROUGH:
            return real(transport, request)
        if answer is not None:
            return _vcrpy.transport_response(answer, request)
        return stub(transport, request)

    return handle


class TransportPatches:
    """Opens and closes case cassettes, patching the HTTP transports as needed (see the module doc).

    ``fast=None`` uses the fast path when this vcrpy allows it; ``fast=False`` always uses vcrpy's
    public context manager. Asking for the fast path on a vcrpy without it warns once (this object's
    first cassette) and uses the public one.
    """

    def __init__(self, *, fast: bool | None = None) -> None:
        problem = _vcrpy.fast_path_problem()
        self.fast = problem is None and fast is not False
        self._problem = problem if fast is not False else None
        self._current = _vcrpy.ForwardingCassette()
        self._patchers: list[Any] | None = None
        self._installed = False
        self._held = False
        self._contexts: dict[int, Any] = {}
        self._lock = threading.RLock()

    # -- cassettes -------------------------------------------------------------------------------------

    def open(self, cassette_class: Any, **arguments: Any) -> Any:
        """Load a cassette of ``cassette_class`` (a vcrpy ``Cassette`` subclass) with ``arguments`` and
        answer the transports from it until :meth:`close`."""
        if self._problem is not None:
            problem, self._problem = self._problem, None
            warnings.warn(
                ReplaySlowPathWarning(f"{problem}: replay opens each cassette through vcrpy's public API "
                                      "instead (same results, slower)"),
                stacklevel=3,
            )
        if not self.fast:
            context = cassette_class.use(**arguments)
            cassette = context.__enter__()
            self._contexts[id(cassette)] = context
            return cassette
        cassette = cassette_class.load(**arguments)
        with self._lock:
            self._install()
            self._current.open.append(cassette)
        return cassette

    def close(self, cassette: Any) -> None:
        """Save ``cassette`` when something was recorded, and stop answering from it."""
        if not self.fast:
            context = self._contexts.pop(id(cassette), None)
            if context is not None:
                context.__exit__(None, None, None)
            return
        try:
            _vcrpy.save(cassette)
        finally:
            with self._lock:
                self._current.remove(cassette)
                self._settle()

    # -- holding the patches in between cassettes -----------------------------------------------------

    def hold(self) -> None:
        """Keep the fast path's patches in after a cassette closes, until :meth:`release`."""
        with self._lock:
            self._held = True

    def release(self) -> None:
        """Take the patches out (unless a cassette is open now); the next cassette puts them back."""
        with self._lock:
            self._held = False
            self._settle()

    @property
    def installed(self) -> bool:
        """Whether this object's patches are in the HTTP transports now."""
        return self._installed

    def _settle(self) -> None:
        if not self._held and not self._current.open:
            self._uninstall()

    def _build(self) -> list[Any]:
        if self._patchers is None:
            patchers = _vcrpy.build_patchers(self._current)
            for patcher in patchers:
                found = _vcrpy.httpx_transport_stub(patcher)
                if found is not None:
                    stub, real = found
                    patcher.new = _answering_first(self._current, stub, real)
            self._patchers = patchers
        return self._patchers

    def _install(self) -> None:
        if self._installed:
            return
        entered: list[Any] = []
        try:
            for patcher in self._build():
                patcher.__enter__()
                entered.append(patcher)
        except BaseException:
            for patcher in reversed(entered):
                patcher.__exit__(None, None, None)
            raise
        self._installed = True

    def _uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        for patcher in reversed(self._build()):
            patcher.__exit__(None, None, None)
