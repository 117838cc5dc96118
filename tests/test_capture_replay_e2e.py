"""Done means: a trace logged in production becomes a case that replays offline, exactly.

An agent (a tool-use loop: ``messages.create`` and ``messages.stream``, one tool that answers and one
that raises) runs in its own "production" process against the loopback Messages API, traced by the
real ``track`` + ``track_anthropic``, with a real-looking API key and a session cookie. The trace is
added with ``flywheel suite add`` (a real process). Then, in a fresh process, with the server stopped
and ``ANTHROPIC_BASE_URL`` pointing at a closed port, the case's entrypoint replays under
``replay_case``: same output, same tool calls (which must not run again), no miss. No secret header
value is in any file written: the project folder, the committed corpus, the trace store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.config import load_settings
from pytest_flywheel.store import Store
from pytest_flywheel.testing import MessagesAPIServer, text_message, tool_use_message

FAKE_KEY = "sk-ant\x2dapi03-PRODUCTION-e2e-0123456789abcdefABCDEF_xyz"
COOKIE = "__cf_bm=E2E-COOKIE-VALUE-5f4dcc3b"
EMAIL = "dana.customer@example.org"
FINAL = "Order W123 shipped on Monday; I could not refund it because it has already shipped."

AGENT = '''
"""A support agent: looks an order up, tries a refund, answers."""

import json
import os
from pathlib import Path

import anthropic

from pytest_flywheel import track, track_anthropic

client = track_anthropic(
    anthropic.Anthropic(max_retries=2, default_headers={"cookie": os.environ.get("AGENT_COOKIE", "none")})
)
MODEL = "claude-sonnet-5-5"
TOOLS = [
    {"name": "lookup_order", "description": "Look an order up.",
     "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
    {"name": "refund", "description": "Refund an order.",
     "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
]


class RefundDenied(Exception):
    pass


def _ran(tool):
    with Path(os.environ["TOOL_LOG"]).open("a") as log:
        log.write(tool + "\\n")


@track(type="tool")
def lookup_order(order_id: str) -> dict:
    _ran("lookup_order")
    return {"order_id": order_id, "status": "shipped", "shipped_on": "Monday"}


@track(type="tool")
def refund(order_id: str) -> dict:
    _ran("refund")
    raise RefundDenied(f"order {order_id} has already shipped")


def _run_tool(block):
    try:
        result = {"lookup_order": lookup_order, "refund": refund}[block.name](**block.input)
        return {"type": "tool_result", "tool_use_id": block.id, "content": json.dumps(result)}
    except RefundDenied as exc:
        return {"type": "tool_result", "tool_use_id": block.id, "content": str(exc), "is_error": True}


@track(entrypoint=True)
def answer(question: str, customer_email: str) -> str:
    messages = [{"role": "user", "content": f"{question} (customer: {customer_email})"}]
    for turn in range(5):
        if turn == 1:  # one streamed turn, as the helper sends it
            with client.messages.stream(model=MODEL, max_tokens=300, tools=TOOLS, messages=messages) as stream:
                reply = stream.get_final_message()
        else:
            reply = client.messages.create(model=MODEL, max_tokens=300, tools=TOOLS, messages=messages)
        if reply.stop_reason != "tool_use":
            return "".join(block.text for block in reply.content if block.type == "text")
        messages.append({"role": "assistant", "content": reply.content})  # SDK objects, as agents do
        messages.append({"role": "user", "content": [_run_tool(b) for b in reply.content if b.type == "tool_use"]})
    raise RuntimeError("no answer after 5 turns")
'''

REPLAY = """
import importlib, json, sys
from pytest_flywheel.config import load_settings
from pytest_flywheel.redaction import build_redactor
from pytest_flywheel.replay import replay_case
from pytest_flywheel.suites import load_suite
from pytest_flywheel.tracing.hooks import collect_spans

settings = load_settings()
loaded = load_suite(settings.suites_dir / "support.yaml")
case = loaded.suite.cases[0]
module_name, qualname = loaded.suite.target.split(":")
target = getattr(importlib.import_module(module_name), qualname)
with collect_spans(persist=False) as collected, replay_case(
    case.cassette_path(settings, "support"), record_mode="none", redactor=build_redactor(settings)
) as session:
    try:
        output = target(**case.input)
    finally:
        session.raise_for_miss()
tools = [
    {"tool": s.name, "arguments": s.input, "result": s.output, "error": (s.error or {}).get("type")}
    for s in sorted(collected.spans, key=lambda s: s.start_time) if s.type == "tool"
]
print(json.dumps({"output": output, "tools": tools, "played": session.http_played, "misses": len(session.misses)}))
"""


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    module = f"support_agent_{uuid.uuid4().hex[:8]}"
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.flywheel]\nredact = ["[\\\\w.+-]+@[\\\\w-]+\\\\.[\\\\w.]+"]\n'
    )
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(AGENT))
    return tmp_path, module


@dataclass
class Captured:
    """What production and capture left behind."""

    root: Path
    module: str
    output: str
    tools: list[dict[str, Any]]
    tool_log: Path
    offline_env: dict[str, str]


def _tool_calls(spans: list[Any]) -> list[dict[str, Any]]:
    return [
        {"tool": s.name, "arguments": s.input, "result": s.output, "error": (s.error or {}).get("type")}
        for s in sorted(spans, key=lambda s: s.start_time)
        if s.type == "tool"
    ]


def _produce_and_capture(
    project: tuple[Path, str], messages_api: MessagesAPIServer, assertions: list[str]
) -> Captured:
    root, module = project
    tool_log = root / "tools-ran.log"
    env = {**os.environ, "TOOL_LOG": str(tool_log), "PYTHONPATH": str(root)}
    production_env = {
        **env,
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "AGENT_COOKIE": COOKIE,
        "ANTHROPIC_BASE_URL": messages_api.base_url,
    }

    # 1. Production: the traced agent against the loopback Messages API.
    messages_api.queue(
        tool_use_message("lookup_order", {"order_id": "W123"}, text="Let me look that up."),
        tool_use_message("refund", {"order_id": "W123"}),
        text_message(FINAL),
    )
    question = "Where is my order W123, and can I get a refund?"
    call = f"import json, {module} as a; print(json.dumps(a.answer({question!r}, customer_email={EMAIL!r})))"
    production = json.loads(_run([sys.executable, "-c", call], cwd=root, env=production_env).stdout)
    assert production == FINAL
    assert tool_log.read_text().split() == ["lookup_order", "refund"]
    sent = messages_api.message_requests
    assert len(sent) == 3 and sent[1].body.get("stream") is True
    assert {r.headers["authorization"] for r in sent} == {f"Bearer {FAKE_KEY}"}
    assert {r.headers["cookie"] for r in sent} == {COOKIE}

    settings = load_settings(root)
    with Store(settings.store, readonly=True) as store:
        (trace_row,) = store.conn.execute("SELECT id FROM traces").fetchall()
        production_tools = _tool_calls(store.get_spans(trace_row["id"]))
    assert [t["tool"] for t in production_tools] == ["lookup_order", "refund"]
    assert production_tools[1]["error"] == f"{module}.RefundDenied"

    # 2. Capture, with the suites CLI in its own process (it imports the entrypoint: no real key there).
    offline_env = {**env, "ANTHROPIC_API_KEY": "not-a-real-key", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    add = [sys.executable, "-m", "pytest_flywheel.cli", "suite", "add", "support", "--trace", trace_row["id"]]
    added = _run(add + assertions, cwd=root, env=offline_env)
    assert "support" in added.stdout

    messages_api.stop()
    tool_log.unlink()
    return Captured(root, module, production, production_tools, tool_log, offline_env)


def test_a_production_trace_replays_offline_in_a_fresh_process(
    project: tuple[Path, str], messages_api: MessagesAPIServer
) -> None:
    captured = _produce_and_capture(
        project, messages_api, ["--assert", "The response must say the order shipped."]
    )
    root, production, production_tools = captured.root, captured.output, captured.tools
    tool_log, offline_env = captured.tool_log, captured.offline_env
    settings = load_settings(root)

    # 3. Replay in a fresh process: server stopped, base URL on a closed port, no real key.
    replayed: dict[str, Any] = json.loads(
        _run([sys.executable, "-c", REPLAY], cwd=root, env=offline_env).stdout
    )
    assert replayed["output"] == production
    assert replayed["tools"] == production_tools
    assert (replayed["played"], replayed["misses"]) == (3, 0)
    assert not tool_log.exists()  # the tools' recorded results came back; the tools did not run

    # 4. No secret header value in anything written: the project (suite, cassette, caches), the store.
    store_files = [p for p in settings.store.parent.iterdir() if p.name.startswith(settings.store.name)]
    written = _files_under(root) + store_files
    assert any(p.suffix == ".yaml" and "cassettes" in p.parts for p in written)
    leaks = [
        (str(path), secret)
        for path in written
        for secret in (FAKE_KEY, "PRODUCTION-e2e", COOKIE, "E2E-COOKIE-VALUE")
        if secret.encode() in path.read_bytes()
    ]
    assert leaks == []
    corpus = _files_under(settings.dir)
    assert corpus and [str(p) for p in corpus if EMAIL.encode() in p.read_bytes()] == []


def test_the_captured_case_passes_under_pytest_flywheel_suite_offline(
    project: tuple[Path, str], messages_api: MessagesAPIServer
) -> None:
    """The same case, run the way CI runs it: ``pytest --flywheel-suite=support`` (deterministic
    checks only, so no judge is needed), server stopped, no key."""
    captured = _produce_and_capture(
        project,
        messages_api,
        [
            "--check",
            '{"contains": "already shipped"}',
            "--check",
            '{"tool_called": "refund", "args": {"order_id": "W123"}}',
        ],
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--flywheel-suite=support", "-p", "no:cacheprovider", "-q"],
        cwd=captured.root,
        env=captured.offline_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert not captured.tool_log.exists()
