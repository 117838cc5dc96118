"""Test projects for the suites tests: a pyproject.toml, an importable agent module, traces in the store."""

from __future__ import annotations

import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings, load_settings
from pytest_flywheel.store import SpanRecord, Store, TraceRecord

SECRET_KEY = "sk-ant\x2dapi03-SECRETSECRETSECRET"


@dataclass
class Project:
    root: Path
    module: str  # a module name unique to the test, so sys.modules never serves another test's agent

    @property
    def settings(self) -> Settings:
        return load_settings(self.root)

    @property
    def target(self) -> str:
        return f"{self.module}:answer"

    @property
    def suites_dir(self) -> Path:
        return self.root / "flywheel" / "suites"


def make_project(tmp_path: Path, *, pyproject_extra: str = "") -> Project:
    """A project root with ``<module>.py`` defining ``answer(question, user_id=0)`` and ``Agent.run``."""
    module = f"agent_{uuid.uuid4().hex[:10]}"
    (tmp_path / "pyproject.toml").write_text(
        f"[project]\nname = 'demo'\n\n[tool.flywheel]\n{pyproject_extra}\n"
    )
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            def answer(question, user_id=0):
                return "answer to " + question

            def other(question):
                return question

            class Agent:
                def run(self, question):
                    return question
            """
        )
    )
    return Project(root=tmp_path, module=module)


def write_trace(
    settings: Settings,
    *,
    module: str | None,
    qualname: str | None = "answer",
    case_input: Any = None,
    trace_id: str | None = None,
    project: str = "default",
    with_children: bool = True,
) -> str:
    """A finished trace in the store: a root span (the entrypoint), one Anthropic llm span, one tool span."""
    trace_id = trace_id or uuid.uuid4().hex
    if case_input is None:
        case_input = {"question": "Where is my order 1234?", "user_id": 7}
    start = time.time()
    root_id = f"{trace_id}-root"
    spans = [
        SpanRecord(
            id=root_id,
            trace_id=trace_id,
            parent_id=None,
            name="answer",
            type="general",
            start_time=start,
            end_time=start + 1.0,
            project=project,
            input=case_input,
            output="Your order ships on Monday.",
            module=module,
            qualname=qualname,
        )
    ]
    if with_children:
        request = {
            "model": "claude-sonnet-5-5",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Where is my order 1234?"}],
        }
        response = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5-5",
            "content": [{"type": "text", "text": "Your order ships on Monday."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 8},
        }
        spans += [
            SpanRecord(
                id=f"{trace_id}-tool",
                trace_id=trace_id,
                parent_id=root_id,
                name="lookup_order",
                type="tool",
                start_time=start + 0.1,
                end_time=start + 0.2,
                project=project,
                input={"order_id": "1234", "api_key": SECRET_KEY},
                output={"status": "shipped"},
                module=module,
                qualname="lookup_order",
            ),
            SpanRecord(
                id=f"{trace_id}-llm",
                trace_id=trace_id,
                parent_id=root_id,
                name="messages.create",
                type="llm",
                start_time=start + 0.3,
                end_time=start + 0.9,
                project=project,
                input=request,
                output=response,
                metadata={
                    "anthropic": {
                        "endpoint": "messages.create",
                        "stream": False,
                        "base_url": "http://127.0.0.1:9",
                    }
                },
                model="claude-sonnet-5-5",
                input_tokens=12,
                output_tokens=8,
                stop_reason="end_turn",
            ),
        ]
    trace = TraceRecord(
        id=trace_id,
        project=project,
        name="answer",
        status="ok",
        start_time=start,
        end_time=start + 1.0,
        input=case_input,
        output="Your order ships on Monday.",
        location=f"{module}:{qualname}" if module and qualname else None,
        span_count=len(spans),
    )
    with Store(settings.store) as store:
        store.write_spans(spans, [trace])
    return trace_id
