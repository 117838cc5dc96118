"""LLM labels through the real Anthropic SDK against the loopback Messages API: batched, concurrent,
cached (a second triage makes no call), their cost reported, redacted, and an unusable reply an error."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.evolve.llm_labels import TOOL_NAME, parse_labels
from pytest_flywheel.store import Store
from pytest_flywheel.testing import MessagesAPIServer, RecordedRequest
from pytest_flywheel.testing.messages_api import text_message, tool_use_message
from tests.store.builders import Feedback, TraceSpec, write_traces

SECRET = "sk-ant\x2dapi03-TOPSECRETTOPSECRET"
_TRACE = re.compile(r'<trace index="(\d+)">\n(.*?)\n</trace>', re.DOTALL)


def labeller(request: RecordedRequest) -> dict[str, Any]:
    """A stand-in model: a trace whose request asks about price matching gets hallucinated_policy,
    one whose tool returned an error gets claimed_success_after_failure, the others no label."""
    content = request.body["messages"][0]["content"]
    entries = []
    for index, text in _TRACE.findall(content):
        labels = []
        if "price" in text:
            labels.append({"name": "hallucinated_policy", "evidence": "it promises a price match"})
        if '"error"' in text:
            labels.append({"name": "claimed_success_after_failure", "evidence": "the lookup failed"})
        entries.append({"index": int(index), "labels": labels})
    return tool_use_message(TOOL_NAME, {"traces": entries}, input_tokens=1000, output_tokens=200)


@pytest.fixture
def keyed(project: Path, messages_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> MessagesAPIServer:
    """A key and a base URL: the LLM labeller talks to the loopback server."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-secret")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    store = Store(project / ".flywheel" / "flywheel.db")
    write_traces(
        store,
        TraceSpec("secret-1", time.time() - 600, input={"question": f"Do you price match? my key is {SECRET}"},
                  feedback=[Feedback("thumbs", "down")]),
    )  # fmt: skip
    store.close()
    return messages_api.respond_with(labeller)


def triage(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["triage", "--json", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_llm_labels_are_batched_concurrent_cached_and_costed(
    project: Path, keyed: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed.delay = 0.3  # two batches in flight at once take one delay, not two
    code, data, err = triage(capsys)
    assert code == 0, err
    llm = data["llm"]
    assert llm["status"] == "used"
    # 10 failures, 8 a call: 2 calls, at the same time
    assert data["failures"] == 10 and llm["usage"]["calls"] == 2 == len(keyed.message_requests)
    assert keyed.max_in_flight == 2
    assert llm["usage"]["labelled"] == 10 and llm["usage"]["cached"] == 0
    assert (llm["usage"]["input_tokens"], llm["usage"]["output_tokens"]) == (2000, 400)
    assert llm["usage"]["cost_usd"] > 0
    request = keyed.message_requests[0].body
    assert request["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    # LLM labels join the cluster key: the price-match requests now cluster on their own label
    labels = {tuple(c["labels"]) for c in data["clusters"]}
    assert ("hallucinated_policy",) in labels
    assert ("claimed_success_after_failure", "tool_error_result") in labels
    example = next(c for c in data["clusters"] if c["labels"] == ["hallucinated_policy"])
    assert {"name": "hallucinated_policy", "source": "llm", "span_id": None,
            "evidence": "it promises a price match"} in example["example_labels"]  # fmt: skip
    # nothing secret went to the model, nor into the cache file
    sent = json.dumps([r.body for r in keyed.message_requests])
    assert SECRET not in sent and "price match" in sent
    cache = project / "flywheel" / "failure_labels.jsonl"
    lines = cache.read_text().splitlines()
    assert len(lines) == 10 and lines == sorted(lines) and SECRET not in cache.read_text()

    keyed.requests.clear()
    code, again, err = triage(capsys)
    assert code == 0, err
    assert keyed.message_requests == [] and again["llm"]["usage"]["calls"] == 0
    assert again["llm"]["usage"]["cached"] == 10
    assert {tuple(c["labels"]) for c in again["clusters"]} == labels

    code, out_text = main(["triage"]), capsys.readouterr().out
    assert code == 0 and "Labels: rules and LLM (claude-sonnet-5-5, 0 calls, 10 from the cache" in out_text


def test_no_llm_and_no_key_are_rules_only(
    project: Path, keyed: MessagesAPIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, data, _ = triage(capsys, "--no-llm")
    assert code == 0 and data["llm"] == {"status": "skipped", "message": "--no-llm was given",
                                          "usage": None}  # fmt: skip
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, data, _ = triage(capsys)
    assert code == 0 and data["llm"]["message"] == "no ANTHROPIC_API_KEY is set"
    assert keyed.requests == []


def test_an_unusable_reply_is_an_error_and_good_batches_are_kept(
    project: Path, keyed: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int] = []

    def flaky(request: RecordedRequest) -> dict[str, Any]:
        calls.append(1)
        if "REDACTED" in request.body["messages"][0]["content"]:  # the batch of the trace with the key
            return text_message("I would rather not use the tool.")  # never a usable answer
        return labeller(request)

    keyed.respond_with(flaky)
    code = main(["triage", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("flywheel: error: no LLM labels for ") and f"did not call {TOOL_NAME}" in err
    assert "2 unusable replies" in err and "--no-llm" in err and len(calls) == 3  # one batch retried once
    data = json.loads(out)  # the report is still printed, with the labels that came
    assert data["llm"]["status"] == "error" and data["llm"]["usage"]["labelled"] == 8
    kept = (project / "flywheel" / "failure_labels.jsonl").read_text().splitlines()
    assert len(kept) == data["llm"]["usage"]["labelled"]


def test_a_run_killed_halfway_keeps_the_labels_it_paid_for(
    project: Path, keyed: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import signal
    import subprocess
    import threading

    release = threading.Event()

    def slow_second_batch(request: RecordedRequest) -> dict[str, Any]:
        if "REDACTED" in request.body["messages"][0]["content"]:
            release.wait(60)  # this batch never answers before the kill
        return labeller(request)

    keyed.respond_with(slow_second_batch)
    cache = project / "flywheel" / "failure_labels.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "pytest_flywheel.cli.main", "triage"], cwd=project,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (cache.is_file() and len(cache.read_text().splitlines()) == 8):
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        release.set()
    kept = cache.read_text().splitlines()
    assert len(kept) == 8 and all(json.loads(line)["key"].startswith("sha256:") for line in kept)

    keyed.respond_with(labeller)
    keyed.requests.clear()
    code, data, err = triage(capsys)
    assert code == 0, err
    assert data["llm"]["usage"]["cached"] == 8 and data["llm"]["usage"]["calls"] == 1 == len(keyed.message_requests)


def test_a_corrupt_cache_line_is_a_warning_and_is_kept(
    project: Path, keyed: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = project / "flywheel" / "failure_labels.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("<<<<<<< HEAD\n")
    code, data, err = triage(capsys)
    assert code == 0, err
    assert data["warnings"] == [f"{cache}:1: not a label cache entry (Expecting value: line 1 column 1 (char 0)); "
                                "the line is ignored"]  # fmt: skip
    lines = cache.read_text().splitlines()
    assert len(lines) == 11 and lines[-1] == "<<<<<<< HEAD"  # a person's line is not ours to delete


def test_a_cache_line_nested_too_deeply_is_a_warning_and_is_kept(
    project: Path, keyed: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = project / "flywheel" / "failure_labels.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    deep = "[" * 100_000
    cache.write_text(deep + "\n")
    code, data, err = triage(capsys)
    assert code == 0, err
    assert data["warnings"][0].startswith(f"{cache}:1: not a label cache entry (")
    assert cache.read_text().splitlines()[-1] == deep  # a person's line is not ours to delete


def test_replies_are_checked() -> None:
    def reply(entries: Any) -> dict[str, Any]:
        return {"content": [{"type": "tool_use", "name": TOOL_NAME, "input": {"traces": entries}}]}

    good = reply([{"index": 1, "labels": []}, {"index": 0, "labels": [{"name": "wrong_tool_argument", "evidence": "e"}]}])
    assert parse_labels(good, 2) == [[("wrong_tool_argument", "e")], []]
    for entries, problem in [
        ([{"index": 0, "labels": []}], "traces 1 got no entry"),
        ([{"index": 0, "labels": []}, {"index": 0, "labels": []}], "trace 0 has two entries"),
        ([{"index": 0, "labels": [{"name": "made_up"}]}, {"index": 1, "labels": []}], "'made_up' is not one of"),
        ([{"index": 7, "labels": []}], "no valid trace index"),
    ]:
        with pytest.raises(ValueError, match=problem):
            parse_labels(reply(entries), 2)
    with pytest.raises(ValueError, match="cut off at max_tokens"):
        parse_labels({"content": [], "stop_reason": "max_tokens"}, 1)


def test_propose_with_a_labeller_that_cannot_answer_writes_nothing(
    project: Path, keyed: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stranger's run: `candidates propose` printed its candidates, wrote the candidates file, and
    only then failed on the LLM labels, so the user could not tell what had been kept."""
    keyed.respond_with(lambda request: text_message("OK"))
    code = main(["candidates", "propose", "qa"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == "" and not (project / "flywheel" / "candidates").exists()
    assert err.startswith("flywheel: error: no LLM labels for ") and f"did not call {TOOL_NAME}" in err
    assert err.rstrip().endswith("Nothing was proposed.") and "--no-llm" in err

    assert main(["candidates", "propose", "qa", "--no-llm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Triage: 10 failures in ") and "(rule labels only: --no-llm was given)" in out
    assert "  1 failure  " in out and " 1 failures" not in out and " 1 clusters" not in out
    assert (project / "flywheel" / "candidates" / "qa.yaml").is_file()


def test_the_stand_in_server_answers_the_label_tool(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's no-key server (`python -m pytest_flywheel.testing`) answered the judge only: the
    labeller got plain text and `flywheel triage` failed unless --no-llm was given."""
    from pytest_flywheel.testing.serve import judge_handler

    with MessagesAPIServer(judge_handler("rule")) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "loopback")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        code, data, err = triage(capsys)
        assert code == 0, err
        assert data["llm"]["status"] == "used" and data["llm"]["usage"]["labelled"] == data["failures"] == 9
        assert all(label["source"] == "rule" for c in data["clusters"] for label in c["example_labels"])
        code = main(["candidates", "propose", "qa"])
        out, err = capsys.readouterr()
    assert code == 0, err
    assert "(rule and LLM labels)" in out and "Wrote flywheel/candidates/qa.yaml" in out
