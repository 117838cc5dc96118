"""The caching judge: a second run with the verdict file makes no call; offline and update modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from pytest_flywheel.judge import (
    AnthropicJudge,
    CachedJudge,
    Judge,
    JudgeError,
    JudgeRequest,
    PooledJudge,
    Verdict,
    VerdictCache,
)
from pytest_flywheel.judge.loopback import LOOPBACK_MODEL, ParsedJudgePrompt, verdict_handler
from pytest_flywheel.testing import MessagesAPIServer

CASES = [
    JudgeRequest(
        assertions=["The reply must mention 'refund'.", "The reply must mention 'voucher'."],
        input={"question": "refund?"},
        output="Your refund is on its way.",
        trajectory=[{"type": "tool", "name": "refund", "arguments": {"id": 1}, "result": "ok"}],
        label="support.yaml::refund",
    ),
    JudgeRequest(
        assertions=["The reply must mention 'voucher'."],
        input={"question": "voucher?"},
        output="Here is a voucher.",
        label="support.yaml::voucher",
    ),
]


def run_session(client: anthropic.Anthropic, path: Path, **flags: bool) -> tuple[list[list[Verdict]], CachedJudge]:
    service = CachedJudge(AnthropicJudge(client=client), VerdictCache.load(path), **flags)
    verdicts = [service.evaluate(case) for case in CASES]
    service.close()
    service.cache.write()
    return verdicts, service


def test_a_second_run_with_the_verdict_file_makes_no_call(
    judge_api: MessagesAPIServer, judge_client: anthropic.Anthropic, tmp_path: Path
) -> None:
    path = tmp_path / "flywheel" / "verdicts.jsonl"

    first, first_service = run_session(judge_client, path)
    calls_after_first = len(judge_api.message_requests)
    second, second_service = run_session(judge_client, path)

    assert calls_after_first == 2  # one call per case, all its assertions in it
    assert len(judge_api.message_requests) == calls_after_first  # zero calls the second time
    assert [[v.passed for v in case] for case in second] == [[True, False], [True]]
    assert [[v.reason for v in case] for case in second] == [[v.reason for v in case] for case in first]
    assert all(v.cached for case in second for v in case) and not any(v.cached for case in first for v in case)
    assert first_service.usage.as_dict()["new"] == 3 and first_service.usage.calls == 2
    assert second_service.usage.as_dict() == {
        "cached": 3, "new": 0, "calls": 0, "input_tokens": 0, "output_tokens": 0, "tokens": 0, "cost_usd": 0.0
    }


def test_the_file_records_the_reported_model_and_the_case(
    judge_api: MessagesAPIServer, judge_client: anthropic.Anthropic, tmp_path: Path
) -> None:
    path = tmp_path / "verdicts.jsonl"
    run_session(judge_client, path)

    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(entries) == 3
    assert {e["model"] for e in entries} == {LOOPBACK_MODEL}
    assert {e["backend"] for e in entries} == {"anthropic"}
    assert {e["prompt_version"] for e in entries} == {"flywheel-judge/1"}
    assert {e["case"] for e in entries} == {"support.yaml::refund", "support.yaml::voucher"}
    assert entries == sorted(entries, key=lambda e: e["key"])


def test_only_the_uncached_assertions_of_a_case_are_judged(
    judge_api: MessagesAPIServer, judge_client: anthropic.Anthropic, tmp_path: Path
) -> None:
    path = tmp_path / "verdicts.jsonl"
    run_session(judge_client, path)
    grown = JudgeRequest(
        assertions=[*CASES[0].assertions, "The reply must mention 'way'."],
        input=CASES[0].input, output=CASES[0].output, trajectory=CASES[0].trajectory, label=CASES[0].label,
    )
    service = CachedJudge(AnthropicJudge(client=judge_client), VerdictCache.load(path))
    calls_before = len(judge_api.message_requests)

    verdicts = service.evaluate(grown)

    assert [v.cached for v in verdicts] == [True, True, False]
    assert [v.passed for v in verdicts] == [True, False, True]
    body = judge_api.message_requests[calls_before].body
    assert "[0] The reply must mention 'way'." in body["messages"][0]["content"]
    assert len(judge_api.message_requests) == calls_before + 1


def test_a_changed_output_is_judged_again(
    judge_api: MessagesAPIServer, judge_client: anthropic.Anthropic, tmp_path: Path
) -> None:
    path = tmp_path / "verdicts.jsonl"
    run_session(judge_client, path)
    service = CachedJudge(AnthropicJudge(client=judge_client), VerdictCache.load(path))
    changed = JudgeRequest(assertions=CASES[1].assertions, input=CASES[1].input, output="No voucher today.")

    verdicts = service.evaluate(changed)

    assert not verdicts[0].cached and len(judge_api.message_requests) == 3


def test_offline_serves_the_cache_and_refuses_to_judge(
    judge_api: MessagesAPIServer, judge_client: anthropic.Anthropic, tmp_path: Path
) -> None:
    path = tmp_path / "verdicts.jsonl"
    run_session(judge_client, path)
    offline = CachedJudge(AnthropicJudge(client=judge_client), VerdictCache.load(path), offline=True)
    calls = len(judge_api.message_requests)

    assert all(v.cached for v in offline.evaluate(CASES[0]))
    new_case = JudgeRequest(assertions=["The reply must be 'short'."], output="Hi", label="s.yaml::new")
    with pytest.raises(JudgeError) as caught:
        offline.evaluate(new_case)

    message = str(caught.value)
    assert "No cached verdict for 1 assertion of s.yaml::new (\"The reply must be 'short'.\")" in message
    assert "--flywheel-offline" in message and str(path) in message
    assert len(judge_api.message_requests) == calls


def test_update_judges_again_and_overwrites(
    judge_api: MessagesAPIServer, judge_client: anthropic.Anthropic, tmp_path: Path
) -> None:
    path = tmp_path / "verdicts.jsonl"
    run_session(judge_client, path)

    def strict(criterion: str, prompt: ParsedJudgePrompt) -> tuple[bool, str]:
        return False, "A stricter judge says no."

    judge_api.respond_with(verdict_handler(strict))
    verdicts, _ = run_session(judge_client, path, update=True)

    assert [v.passed for case in verdicts for v in case] == [False, False, False]
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(entries) == 3 and {e["reason"] for e in entries} == {"A stricter judge says no."}


def test_update_with_no_key_says_the_flag_passed_over_the_cached_verdicts(
    judge_client: anthropic.Anthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stranger's run: --flywheel-update-verdicts with no key said to commit verdicts.jsonl, which was
    committed already; what kept its verdicts from serving was the flag."""
    path = tmp_path / "verdicts.jsonl"
    run_session(judge_client, path)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    keyless = CachedJudge(AnthropicJudge(), VerdictCache.load(path), update=True)
    with pytest.raises(JudgeError) as raised:
        keyless.evaluate(CASES[0])
    with pytest.raises(JudgeError) as submitted:
        keyless.submit(CASES[1]).result(timeout=30)
    keyless.close()
    for error, cached in ((raised.value, 2), (submitted.value, 1)):
        message = str(error)
        assert "ANTHROPIC_API_KEY is not set" in message
        assert message.endswith(
            f"--flywheel-update-verdicts asks the judge again for every assertion: {cached} of these have a "
            "cached verdict, which a run without the flag uses."
        )


def test_submit_overlaps_cases_and_caches_their_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    with MessagesAPIServer(verdict_handler(), delay=0.2) as server:
        client = anthropic.Anthropic(api_key="test-key", base_url=server.base_url, max_retries=0)
        service = CachedJudge(AnthropicJudge(client=client, max_workers=8), VerdictCache.load(path))
        requests = [
            JudgeRequest(assertions=[f"Mentions '{n}'.", "Mentions 'case'."], output=f"case {n}", label=f"c{n}")
            for n in range(12)
        ]
        futures = [service.submit(request) for request in requests]
        results = [future.result(timeout=60) for future in futures]
        service.close()
        service.cache.write()

        assert server.max_in_flight > 1
        assert len(server.message_requests) == 12
        assert all(v.passed for verdicts in results for v in verdicts)

        again = CachedJudge(AnthropicJudge(client=client), VerdictCache.load(path))
        cached = [again.submit(request) for request in requests]
        assert all(future.done() for future in cached)  # no call: finished on submit
        assert all(v.cached for future in cached for v in future.result())
        assert len(server.message_requests) == 12


def test_submit_delivers_judge_errors_through_the_future(tmp_path: Path) -> None:
    service = CachedJudge(AnthropicJudge(), VerdictCache.load(tmp_path / "v.jsonl"))  # no key
    future = service.submit(CASES[0])
    with pytest.raises(JudgeError, match="ANTHROPIC_API_KEY is not set"):
        future.result(timeout=30)
    service.close()


def test_offline_and_update_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        CachedJudge(AnthropicJudge(), VerdictCache(), offline=True, update=True)


def test_cancelling_a_submitted_case_skips_its_call_if_not_started(tmp_path: Path) -> None:
    with MessagesAPIServer(verdict_handler(), delay=0.3) as server:
        client = anthropic.Anthropic(api_key="test-key", base_url=server.base_url, max_retries=0)
        service = CachedJudge(AnthropicJudge(client=client, max_workers=1), VerdictCache.load(tmp_path / "v.jsonl"))
        running = service.submit(CASES[0])
        queued = service.submit(CASES[1])

        assert queued.cancel()
        verdicts = running.result(timeout=30)
        service.close()

        assert len(verdicts) == 2 and queued.cancelled()
        assert len(server.message_requests) == 1  # the queued case's call was never made


class KeywordJudge(PooledJudge):
    """A judge another backend could plug in through pytest_flywheel_make_judge: no LLM at all."""

    backend = "keyword"
    model = "keyword-1"
    prompt_version = "keyword/1"

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.settings: dict[str, Any] = {}
        self.seen: list[JudgeRequest] = []

    def judge(self, request: JudgeRequest) -> list[Verdict]:
        self.seen.append(request)
        return [Verdict(passed="refund" in str(request.output), reason="keyword", confidence=1.0)
                for _ in request.assertions]


def test_any_judge_satisfying_the_protocol_is_cached_under_its_own_identity(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    judge = KeywordJudge()
    assert isinstance(judge, Judge)
    first = CachedJudge(judge, VerdictCache.load(path))
    verdicts = [first.submit(case).result(timeout=30) for case in CASES]
    first.close()
    first.cache.write()

    assert [[v.passed for v in case] for case in verdicts] == [[True, True], [False]]
    assert first.usage.calls == 2 and first.usage.new == 3  # counted though the judge reports no usage
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert {(e["backend"], e["model"], e["prompt_version"]) for e in entries} == {("keyword", "keyword-1", "keyword/1")}

    again = CachedJudge(KeywordJudge(), VerdictCache.load(path))
    assert all(v.cached for v in again.evaluate(CASES[0]))
    assert again.usage.calls == 0
    # the Anthropic judge never reuses the keyword judge's verdicts: its identity is in the key
    other = CachedJudge(AnthropicJudge(), VerdictCache.load(path), offline=True)
    with pytest.raises(JudgeError, match="No cached verdict for 2 assertions"):
        other.evaluate(CASES[0])


def test_a_judge_answering_the_wrong_number_of_verdicts_is_an_error(tmp_path: Path) -> None:
    class Short(KeywordJudge):
        def judge(self, request: JudgeRequest) -> list[Verdict]:
            return super().judge(request)[:1]

    with pytest.raises(JudgeError, match="answered 1 verdicts for 2 assertions"):
        CachedJudge(Short(), VerdictCache()).evaluate(CASES[0])
