"""pytest-xdist support: workers hand their verdicts to the controller, which writes the file once.

Each worker's runtime puts ``cache.export_session()`` (its new verdicts and the keys it used) into
``config.workeroutput`` at session end; the controller merges every finished worker's payload into its
own cache, so no worker's verdict is lost and none is written twice. Test results need no such channel:
they travel on the test reports (``report.flywheel``), which xdist already ships.

Registered only when xdist is installed (its hooks are unknown to pytest otherwise); light to import.
"""

from __future__ import annotations

from typing import Any

from pytest_flywheel.pytest_plugin.options import FlywheelState


class XdistHooks:
    """Controller-side xdist hooks, bound to the session state."""

    def __init__(self, state: FlywheelState) -> None:
        self.state = state

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        from pytest_flywheel.pytest_plugin.runtime import WORKER_OUTPUT_KEY

        output = getattr(node, "workeroutput", None) or {}
        payload = output.get(WORKER_OUTPUT_KEY)
        if payload:
            self.state.get_runtime().merge_worker(payload)
