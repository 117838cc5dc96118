"""pytest-xdist support: workers hand their used verdict keys to the controller, which writes the file.

Each worker appends the verdicts it judges to the verdict file as they come (so nothing is lost even if
it dies), and at session end puts ``cache.export_session()`` (its new verdicts and the keys it used)
into ``config.workeroutput``; the controller merges every finished worker's payload into its own
cache and writes the merged, sorted file once. Test results need no such channel: they travel on the
test reports (``report.flywheel``), which xdist already ships.

Registered only when xdist is installed (its hooks are unknown to pytest otherwise); light to import.
"""

from __future__ import annotations

from typing import Any

from pytest_flywheel.pytest_plugin.session import WORKER_OUTPUT_KEY, FlywheelSession


class XdistHooks:
    """Controller-side xdist hooks, bound to the session."""

    def __init__(self, flywheel: FlywheelSession) -> None:
        self.flywheel = flywheel

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        payload = output.get(WORKER_OUTPUT_KEY)
        if payload:
            self.flywheel.merge_worker(payload)
