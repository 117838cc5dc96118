"""A project every ``flywheel`` command can run in: a traced agent, a suite with a case, two runs.

Used by the rules and fuzz tests, which walk the parser and so drive whatever commands are registered:
:data:`VALID` gives a value for each argument they may need (by its ``dest``), and a command whose
arguments it does not know gets ``"x"``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.runs import run_from_report, save_run
from pytest_flywheel.store import FeedbackRecord, Store
from tests.runs.helpers import case, report
from tests.suites.projects import make_project, write_trace
from tests.trust.builders import Project as LabelledProject
from tests.trust.builders import entry, write_verdicts

CITE = "The reply must cite the order number."


@dataclass(frozen=True)
class World:
    root: Path
    store: Path
    trace_id: str
    run_ids: tuple[str, str]
    candidate_id: str

    @property
    def valid(self) -> dict[str, str]:
        """A well-formed value for each argument (by ``dest``) the commands take."""
        return {
            "trace_id": self.trace_id,
            "trace": self.trace_id,
            "suite": "support",
            "add_to_suite": "support",
            "run_a": self.run_ids[0],
            "run_b": self.run_ids[1],
            "store": str(self.store),
            "html": str(self.root / "out" / "report.html"),
            "paths": str(self.root / "flywheel" / "suites" / "support.yaml"),
            "assertions": CITE,
            "case_id": "another",
            "case": "qa::refund",  # verdicts label CASE INDEX pass|fail
            "index": "1",
            "answer": "pass",
            "files": str(self.root / "shard-verdicts.jsonl"),  # verdicts merge FILE...
            "candidate": self.candidate_id,
            # by command, where one dest means different things
            "flywheel import/paths": str(self.root / "other-store.db"),
            "flywheel runs merge/stores": str(self.root / "other-store.db"),
        }

    def value(self, command: str, dest: str) -> str:
        """A well-formed value for ``dest`` of ``command`` (``x`` for one this world does not know)."""
        valid = self.valid
        return valid.get(f"{command}/{dest}", valid.get(dest, "x"))

    def copy_to(self, folder: Path) -> World:
        """The same world in ``folder``: for commands that change what they are run on."""
        shutil.copytree(self.root, folder, symlinks=True)
        return replace(self, root=folder, store=folder / self.store.relative_to(self.root))


def build_world(root: Path) -> World:
    # suite qa: verdicts with real keys, a run record naming them, one person's label
    labelled = LabelledProject(root)
    project = make_project(root)
    store = root / ".flywheel" / "flywheel.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("FLYWHEEL_STORE", str(store))
        trace_id = write_trace(project.settings, module=project.module)
        added = main(["suite", "add", "support", "--trace", trace_id, "--assert", CITE, "--id", "c1",
                      "--tag", "orders", "--notes", "Made for the CLI tests."])  # fmt: skip
        assert added == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("FLYWHEEL_STORE", str(store))
        labelled.record({"refund": "No refunds, see the policy."}, {("refund", 0): True, ("refund", 2): False})
        write_verdicts(labelled.verdicts, [entry("The reply must not promise a refund.", "No refunds, see the policy.", True)])
        write_verdicts(root / "shard-verdicts.jsonl", [entry("The reply must cite the refund article.", "x", True)])
        assert main(["verdicts", "label", "qa::refund", "1", "pass"]) == 0
        # a negatively rated trace of the support agent: a failure cluster to propose a candidate from
        bad = write_trace(project.settings, module=project.module, case_input={"question": "Refund order 99?", "user_id": 3})
        with Store(store) as s:
            s.add_feedback(FeedbackRecord(trace_id=bad, name="thumbs_up", value=False))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["candidates", "propose", "support", "--no-llm", "--json"]) == 0
        candidate_id = json.loads(out.getvalue())["added"][0]
    with Store(store) as s:
        first = run_from_report(report(case("c1", "failed", (CITE, False)), started_at=1_790_000_000.0))
        second = run_from_report(report(case("c1", "passed", (CITE, True)), started_at=1_790_003_600.0))
        save_run(s, first)
        save_run(s, second)
    shutil.copy(store, root / "other-store.db")  # a store to import or merge runs from
    # hostile paths
    (root / "a-folder").mkdir()
    (root / "notes.txt").write_text("just some text, not SQLite\n" * 20)
    (root / "garbage.bin").write_bytes(os.urandom(4096))
    (root / "empty.db").write_bytes(b"")
    return World(root=root, store=store, trace_id=trace_id, run_ids=(first.id, second.id), candidate_id=candidate_id)


@pytest.fixture(scope="module")
def world_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture
def world(world_root: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The project as the working directory, its store the default one."""
    monkeypatch.chdir(world_root.root)
    monkeypatch.setenv("FLYWHEEL_STORE", str(world_root.store))
    return world_root
