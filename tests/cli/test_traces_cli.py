"""``flywheel traces list`` / ``show`` through ``main([...])``, one real subprocess, and the real SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.store import Store
from tests.store.builders import T0, Child, Feedback, TraceSpec, write_traces


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "flywheel.db"
    store = Store(path)
    write_traces(
        store,
        TraceSpec(
            "0190aaaa01",
            T0 - 7200,
            ms=1234,
            tags=["prod"],
            input={"question": "Where is order 42?\n(urgent)"},
            feedback=[Feedback("thumbs", False, reason="wrong order")],
            children=[
                Child(
                    "anthropic.messages.create",
                    type="llm",
                    key="llm",
                    ms=800,
                    model="claude-haiku-5-5",
                    tokens=(1200, 300),
                    cost=0.0042,
                    input={
                        "model": "claude-haiku-5-5",
                        "messages": [{"role": "user", "content": "Where is order 42?"}],
                    },
                    output={"content": [{"type": "text", "text": "Let me look."}]},
                ),
                Child(
                    "lookup_order",
                    key="tool",
                    offset_ms=900,
                    ms=200,
                    input={"order_id": 42},
                    error=("KeyError", "'order 42'"),
                ),
                Child(
                    "db_query",
                    parent="tool",
                    key="db",
                    offset_ms=901,
                    ms=50,
                    input={"sql": "SELECT 1"},
                    output=[],
                ),
            ],
        ),
        TraceSpec(
            "0190aaaa02",
            T0 - 3600,
            ms=90,
            name="billing_agent",
            project="billing",
            error=("TimeoutError", "the bank timed out"),
            feedback=[Feedback("score", 0.9)],
        ),
        TraceSpec("0190bbbb03", T0 - 60, ms=15, tags=["canary"], input={"question": "Hello"}),
    )
    store.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_is_a_readable_table_newest_first(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "traces", "list", "--store", str(db))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "START", "STATUS", "DURATION", "COST", "NAME", "INPUT"]
    # ids share "0190aaaa0": the shortest unique prefix (at least 8) is shown.
    assert [line.split()[0] for line in lines[1:]] == ["0190bbbb03", "0190aaaa02", "0190aaaa01"]
    assert "1.23 s" in lines[3] and "$0.0042" in lines[3] and "Where is order 42? (urgent)" in lines[3]
    assert "error" in lines[2] and "billing_agent" in lines[2]


def test_list_json_one_object_per_line(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "traces", "list", "--store", str(db), "--json", "--status", "error")
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["id"] for o in objects] == ["0190aaaa02"]
    (first,) = objects
    assert first["project"] == "billing" and first["status"] == "error"
    assert first["error"]["type"] == "TimeoutError"
    assert first["feedback"] == [{"name": "score", "value": 0.9, "reason": None}]
    assert first["tokens"] == {"input": 0, "output": 0} and first["duration_ms"] == pytest.approx(90)
    assert first["started_at"].endswith("+00:00") and first["ended_at"].endswith("+00:00")
    assert first["cost_usd"] == 0


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--project", "billing"], ["0190aaaa02"]),
        (["--name", "support_agent"], ["0190bbbb03", "0190aaaa01"]),
        (["--status", "ok"], ["0190bbbb03", "0190aaaa01"]),
        (["--min-latency-ms", "1000"], ["0190aaaa01"]),
        (["--min-cost", "0.001"], ["0190aaaa01"]),
        (["--tag", "prod"], ["0190aaaa01"]),
        (["--tag", "prod", "--tag", "canary"], []),
        (["--feedback", "thumbs<1"], ["0190aaaa01"]),
        (["--feedback", "score>=0.5"], ["0190aaaa02"]),
        (["--limit", "1"], ["0190bbbb03"]),
        # 0190aaaa01's tool raised and its agent answered anyway: status ok, but a span raised
        (["--has-error"], ["0190aaaa02", "0190aaaa01"]),
        (["--has-error", "--status", "ok"], ["0190aaaa01"]),
        (["--status", "error"], ["0190aaaa02"]),
    ],
)
def test_each_list_option(
    db: Path, capsys: pytest.CaptureFixture[str], options: list[str], expected: list[str]
) -> None:
    code, out, _ = run(capsys, "traces", "list", "--store", str(db), "--json", *options)
    assert code == (0 if expected else 1)
    assert [json.loads(line)["id"] for line in out.splitlines()] == expected


def test_since_counts_back_from_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    now = time.time()
    path = tmp_path / "recent.db"
    write_traces(Store(path), TraceSpec("old", now - 5 * 3600), TraceSpec("new", now - 600))
    for since, expected in (("2h", ["new"]), ("30m", ["new"]), ("1d", ["new", "old"]), ("5m", [])):
        code, out, _ = run(capsys, "traces", "list", "--store", str(path), "--json", "--since", since)
        assert code == (0 if expected else 1)
        assert [json.loads(line)["id"] for line in out.splitlines()] == expected


def test_nothing_matching_exits_1(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Like grep: a listing that finds nothing exits 1, with a note on stderr and nothing on stdout."""
    for json_flag in ([], ["--json"]):
        code, out, err = run(capsys, "traces", "list", "--store", str(db), "--project", "nobody", *json_flag)
        assert (code, out) == (1, "")
        assert err == "flywheel: no traces match these filters\n"


def test_show_draws_the_span_tree(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "traces", "show", "0190aaaa01", "--store", str(db))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(
        "trace 0190aaaa01  default/support_agent  ok  1.23 s  1,200 in / 300 out tokens"
    )
    assert "feedback: thumbs = false  (wrong order)" in lines
    tree = "\n".join(line for line in lines if not line.lstrip("│ ").startswith(("in:", "out:")))
    assert tree.endswith(
        "general  support_agent  1.23 s\n"
        "├── llm  anthropic.messages.create  800 ms  claude-haiku-5-5  1,200 in / 300 out tokens  $0.0042\n"
        "└── tool  lookup_order  200 ms  ✗ KeyError: 'order 42'\n"
        "    └── tool  db_query  50 ms"
    )
    # LLM spans show the last message sent and the reply's text rather than the raw JSON
    assert "│       in:  user: Where is order 42?" in lines
    assert "│       out: assistant: Let me look." in lines
    assert "    │   in:  42" in lines  # a lone argument previews as its value
    assert "            out: []" in lines


def test_show_accepts_a_unique_prefix_and_prints_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "traces", "show", "0190aaaa01"[:10], "--store", str(db), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["id"] == "0190aaaa01"
    assert [s["name"] for s in data["spans"]] == [
        "support_agent",
        "anthropic.messages.create",
        "lookup_order",
        "db_query",
    ]
    by_name = {s["name"]: s for s in data["spans"]}
    assert by_name["db_query"]["parent_id"] == by_name["lookup_order"]["id"]
    assert by_name["anthropic.messages.create"]["tokens"]["input"] == 1200
    assert by_name["lookup_order"]["error"]["type"] == "KeyError"
    assert data["feedback"][0]["name"] == "thumbs" and data["feedback"][0]["reason"] == "wrong order"
    code, out, _ = run(capsys, "traces", "show", "0190b", "--store", str(db), "--json")
    assert json.loads(out)["id"] == "0190bbbb03"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["traces", "show", "zzz"], "no trace id starts with 'zzz'"),
        (
            ["traces", "show", "0190aaaa"],
            "the trace id prefix '0190aaaa' is ambiguous: it matches 0190aaaa01, "
            "0190aaaa02; type more of the id",
        ),
    ],
)
def test_errors_are_one_line(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, "--store", str(db))
    assert code == 1 and out == ""
    assert err.startswith("flywheel: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "last tuesday"], "argument --since: expected a span of time"),
        (["--feedback", "thumbs"], "argument --feedback: --feedback 'thumbs': expected NAME<VALUE"),
        (["--feedback", "rating<bad"], "'<' needs a number"),
        (["--status", "broken"], "argument --status: invalid choice: 'broken' (choose from 'ok', 'error')"),
        (["--limit", "0"], "argument --limit: '0' is out of range: expected a whole number from 1 to"),
        (["--limit", "ten"], "argument --limit: 'ten' is not a whole number"),
        (["--limit", str(10**20)], "is out of range"),
        (["--min-cost", "cheap"], "argument --min-cost: 'cheap' is not a number"),
        (["--min-cost", "nan"], "argument --min-cost: 'nan': expected a finite number of 0 or more"),
        (["--since", ""], "argument --since: an empty value"),
        (["--project", ""], "argument --project: an empty value"),
    ],
)
def test_values_that_cannot_be_right_are_usage_errors(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Exit status 2, before the store is read: the usage line, then what is wrong with the value."""
    code, out, err = run(capsys, "traces", "list", *argv, "--store", str(db / "not-even-read"))
    assert code == 2 and out == ""
    assert err.startswith("usage: flywheel traces list ") and message in err
    assert "Traceback" not in err


def test_missing_and_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "traces", "list", "--store", str(tmp_path / "none.db"))
    assert code == 1 and err.startswith("flywheel: error: no trace store at ") and err.count("\n") == 1
    Store(tmp_path / "empty.db").close()
    for argv in (["traces", "list"], ["traces", "show", "abc"]):
        code, _, err = run(capsys, *argv, "--store", str(tmp_path / "empty.db"))
        assert code == 1 and "holds no traces yet" in err and err.count("\n") == 1


def test_store_comes_from_the_settings_without_store_option(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_STORE", str(db))
    code, out, _ = run(capsys, "traces", "list", "--json", "--limit", "1")
    assert code == 0 and json.loads(out)["id"] == "0190bbbb03"


def test_the_console_script_in_a_real_process(db: Path) -> None:
    script = Path(sys.executable).with_name("flywheel")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pytest_flywheel.cli"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [*command, "traces", "show", "0190aaaa01", "--store", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "└── tool  lookup_order  200 ms  ✗ KeyError: 'order 42'" in done.stdout
    failed = subprocess.run(
        [*command, "traces", "show", "nope", "--store", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1 and failed.stdout == ""
    assert (
        failed.stderr.startswith("flywheel: error: no trace id starts with 'nope'")
        and "Traceback" not in failed.stderr
    )


def test_traces_written_by_the_real_sdk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_flywheel.tracing as tracing
    from pytest_flywheel import current_trace_id, flush, log_feedback, track

    db = tmp_path / "sdk.db"
    monkeypatch.setenv("FLYWHEEL_STORE", str(db))
    tracing.reset_for_tests()

    @track(type="tool")
    def lookup_order(order_id: int) -> dict[str, object]:
        if order_id == 13:
            raise KeyError(f"order {order_id}")
        return {"order_id": order_id, "status": "shipped"}

    @track(entrypoint=True, tags=["sdk"])
    def support_agent(question: str, order_id: int) -> str:
        trace_id = current_trace_id()
        assert trace_id is not None
        log_feedback(trace_id, "thumbs", order_id != 13, reason="from the test")
        return f"Order {lookup_order(order_id)['order_id']} has shipped."

    assert support_agent("Where is my order?", 7) == "Order 7 has shipped."
    with pytest.raises(KeyError):
        support_agent("And this one?", 13)
    assert flush(10.0)

    code, out, err = run(capsys, "traces", "list", "--store", str(db), "--json", "--feedback", "thumbs<1")
    assert code == 0, err
    (failed,) = [json.loads(line) for line in out.splitlines()]
    assert failed["status"] == "error" and failed["input"] == {"question": "And this one?", "order_id": 13}
    assert failed["tags"] == ["sdk"] and failed["feedback"][0]["value"] is False
    code, out, err = run(capsys, "traces", "show", failed["id"], "--store", str(db))
    assert code == 0, err
    assert "└── tool  lookup_order" in out and "✗ KeyError" in out
