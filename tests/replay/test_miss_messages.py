"""What a cassette miss says, through the real Anthropic SDK: the JSON path of the first difference,
both sides around it, which recorded request it was compared with, the fix, and the one-line summary
and path the plugin groups misses by."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

import anthropic
import pytest

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import CassetteMissError, replay_case, write_case_cassette
from pytest_flywheel.replay.errors import RecordingError
from pytest_flywheel.replay.matching import Difference
from pytest_flywheel.replay.misses import describe_difference, miss_groups, miss_summary
from pytest_flywheel.replay.window import display_width, text_window
from pytest_flywheel.testing import text_message, tool_use_message

from .conversations import body_size, conversation, retail_data
from .spans import ask, llm_span

CLOSED = "http://127.0.0.1:9"
POLICY = (
    "You are Juniper, the support assistant of Acme Outfitters. Greet the customer by name, look the "
    "order up before you say anything about it, and never promise a delivery date. Always answer in "
    "English and keep it short; if the customer asks for a refund, explain the policy in plain words."
)


def sdk() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=CLOSED, max_retries=0)


def miss_of(cassette: Path, kwargs: dict[str, Any]) -> CassetteMissError:
    """The miss one ``messages.create(**kwargs)`` makes, as the session holds it (after checking that
    the SDK got the same error, with the same fields)."""
    with replay_case(cassette) as session:
        with pytest.raises(CassetteMissError) as raised:
            sdk().messages.create(**kwargs)
    [error] = session.misses
    assert isinstance(error, CassetteMissError)
    assert (str(raised.value), raised.value.difference_path, raised.value.summary) == (
        str(error),
        error.difference_path,
        error.summary,
    )
    return error


def window_of(message: str) -> list[str]:
    """The ``here:`` and ``recorded:`` lines of a miss's message and the marks under them."""
    lines = message.splitlines()
    start = next(index for index, line in enumerate(lines) if line.lstrip().startswith("here:"))
    return lines[start : start + 3]


@pytest.fixture
def support_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[dict[str, Any]]]:
    """Six calls of a support agent with ``POLICY`` as its system prompt, and their keyword arguments."""
    monkeypatch.chdir(tmp_path)
    questions = [
        "Where is W1?",
        "And W2?",
        "Can I return W1?",
        "How long does a refund take?",
        "Thanks",
        "Bye",
    ]
    calls = []
    history: list[dict[str, Any]] = []
    for number, question in enumerate(questions):
        history.append({"role": "user", "content": question})
        calls.append({**ask(question), "system": POLICY, "messages": list(history)})
        history.append({"role": "assistant", "content": f"Answer {number}."})
    spans = [llm_span(kwargs, text_message(f"Answer {number}.")) for number, kwargs in enumerate(calls)]
    return write_case_cassette(spans, tmp_path / "case.yaml", redactor=Redactor()), calls


def test_a_one_line_system_prompt_edit_shows_the_changed_words_on_both_sides(
    support_case: tuple[Path, list[dict[str, Any]]],
) -> None:
    cassette, calls = support_case
    edited = {**calls[2], "system": POLICY.replace("in English", "in French")}
    error = miss_of(cassette, edited)
    message = str(error)
    assert (
        "The closest recorded request (interaction 3 of 6) differs at system (the system prompt changed):"
        in (message)
    )
    here, recorded, marks = window_of(message)
    assert here.strip().startswith('here:     "…') and recorded.strip().startswith('recorded: "…')
    assert "answer in French  and keep it short" in here and "answer in English and keep it short" in recorded
    # the changed word is marked on both lines at the same columns, and only it
    column = here.index("French")
    assert recorded.index("English") == column
    assert marks.index("^") == column and marks.strip() == "^" * len("English")
    assert len(here) < 120 and len(recorded) < 120  # a window, not the prompt
    assert message.endswith(
        "if the request changed on purpose, run once with --flywheel-record=new_episodes to record it, or "
        "with --flywheel-record=rewrite to record the case afresh when the prompt changed for good."
    )
    assert (error.difference_path, error.summary) == (
        "system",
        "cassette miss at system: the system prompt changed",
    )
    assert (error.kind, error.fix) == ("request", "new_episodes")


def test_secrets_in_a_changed_request_never_reach_the_message(
    support_case: tuple[Path, list[dict[str, Any]]],
) -> None:
    cassette, calls = support_case
    key = "sk-ant\x2dapi03-" + "Zq7" * 14
    edited = {
        **calls[2],
        "system": POLICY.replace("in English", f"in English (key {key}, ticket T-4821-PRIVATE)"),
    }
    with replay_case(cassette, redactor=Redactor([r"T-\d{4}-PRIVATE"])) as session:
        with pytest.raises(CassetteMissError) as raised:
            sdk().messages.create(**edited)
    for message in (str(raised.value), str(session.misses[0])):
        assert "differs at system" in message and "[REDACTED]" in message
        assert "sk-ant" not in message and "Zq7Zq7" not in message and "4821" not in message


def test_a_short_change_is_shown_whole_on_one_line(support_case: tuple[Path, list[dict[str, Any]]]) -> None:
    cassette, calls = support_case
    error = miss_of(cassette, {**calls[4], "max_tokens": 700})
    assert "(interaction 5 of 6) differs at max_tokens: 700 here, 256 recorded.\n" in str(error)
    assert error.summary == "cassette miss at max_tokens: the max_tokens parameter changed"
    added = miss_of(cassette, {**calls[1], "stop_sequences": ["END"]})
    assert '(interaction 2 of 6) differs at stop_sequences: ["END"] here, (absent) recorded.' in str(added)


def test_a_changed_message_is_named_by_its_position_in_the_conversation(
    support_case: tuple[Path, list[dict[str, Any]]],
) -> None:
    cassette, calls = support_case
    messages = [dict(message) for message in calls[3]["messages"]]
    messages[4]["content"] = "Can I return W1 and W3?"
    error = miss_of(cassette, {**calls[3], "messages": messages})
    assert (
        'differs at messages[4].content: "Can I return W1 and W3?" here, "Can I return W1?" recorded.'
        in str(error)
    )
    assert "(interaction 4 of 6)" in str(error)
    assert error.summary == "cassette miss at messages[4].content: message 5 of the conversation changed"
    fewer = miss_of(cassette, {**calls[3], "messages": calls[3]["messages"][:-1]})
    assert fewer.difference_path == "messages"
    assert "differs at messages: 6 items here, 5 recorded; messages[5] is only here: " in str(fewer)


def test_a_changed_tool_result_in_the_conversation_is_diagnosed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    order = {"order_id": "W1", "status": "shipped", "carrier": "UPS", "items": ["boots", "socks"] * 8}
    first = {**ask("Where is W1?"), "tools": [{"name": "lookup", "input_schema": {"type": "object"}}]}
    reply = tool_use_message("lookup", {"order_id": "W1"}, tool_use_id="toolu_1")
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": json.dumps(order)}
    second = {
        **first,
        "messages": [
            *first["messages"],
            {"role": "assistant", "content": reply["content"]},
            {"role": "user", "content": [result]},
        ],
    }
    spans = [llm_span(first, reply), llm_span(second, text_message("It shipped with UPS."))]
    cassette = write_case_cassette(spans, tmp_path / "case.yaml", redactor=Redactor())
    # The tool now returns another carrier: the request after it carries the new result.
    changed = json.loads(json.dumps(second))
    changed["messages"][2]["content"][0]["content"] = json.dumps({**order, "carrier": "DHL"})
    error = miss_of(cassette, changed)
    assert error.difference_path == "messages[2].content[0].content"
    assert "(interaction 2 of 2)" in str(error)
    here, recorded, marks = window_of(str(error))
    assert '\\"carrier\\": \\"DHL\\"' in here and '\\"carrier\\": \\"UPS\\"' in recorded
    assert marks.strip() == "^^^"


def test_a_miss_in_a_long_conversation_with_a_700_kb_history_is_diagnosed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # tool results grow large late in the run (as a tool that returns a whole document does)
    calls = conversation(retail_data(None, seed=2), turns=40, seed=2, extra_records=300, extra_from=32)
    assert len(calls) == 40 and body_size(calls[-1][0]) > 700_000
    spans = [llm_span(kwargs, reply) for kwargs, reply in calls]
    cassette = write_case_cassette(spans, tmp_path / "long.yaml", redactor=Redactor())
    target = dict(calls[-1][0])
    target["system"] = target["system"].replace(".", "!", 1)
    error = miss_of(cassette, target)
    assert "(interaction 40 of 40) differs at system (the system prompt changed):" in str(error)
    here, recorded, _ = window_of(str(error))
    assert "!" in here and "!" not in recorded and len(here) < 120


def test_a_request_made_once_too_often_and_a_missing_cassette_have_summaries(
    support_case: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    cassette, calls = support_case
    with replay_case(cassette) as session:
        sdk().messages.create(**calls[0])
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**calls[0])
    assert (session.misses[0].summary, getattr(session.misses[0], "difference_path", "?")) == (
        "cassette miss: the request was made more often than recorded",
        None,
    )
    with replay_case(tmp_path / "absent.yaml") as absent:
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**calls[0])
    assert absent.misses[0].summary == "cassette miss: the cassette file does not exist"
    assert not isinstance(absent.misses[0], RecordingError) and absent.misses[0].difference_path is None


def test_a_tool_call_miss_keeps_working_and_has_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_flywheel.tracing import track

    from .spans import tool_span

    monkeypatch.chdir(tmp_path)
    cassette = write_case_cassette(
        [tool_span("lookup_order", {"order_id": "W1"}, {"status": "packed"})],
        tmp_path / "case.yaml",
        redactor=Redactor(),
    )

    @track(type="tool", name="lookup_order")
    def lookup_order(order_id: str) -> dict[str, str]:
        raise AssertionError("the real tool ran")

    with replay_case(cassette) as session:
        assert lookup_order("W1") == {"status": "packed"}
        with pytest.raises(CassetteMissError):
            lookup_order("W2")
    [miss] = session.misses
    assert str(miss).startswith("The cassette case.yaml holds no recorded call of tool 'lookup_order'")
    assert (miss.kind, miss.summary, miss.difference_path) == (
        "tool",
        "cassette miss: tool 'lookup_order' called with arguments the cassette does not hold",
        None,
    )


def test_misses_keep_their_path_and_summary_through_pickling(
    support_case: tuple[Path, list[dict[str, Any]]],
) -> None:
    from pytest_flywheel.replay.session import RequestMissError

    cassette, calls = support_case
    with replay_case(cassette) as session:
        with pytest.raises(RequestMissError) as raised:
            sdk().messages.create(**{**calls[0], "system": "Be brief."})
    for error in (raised.value, session.misses[0]):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (str(copy), copy.kind, copy.difference_path, copy.summary) == (
            str(error),
            "request",
            "system",
            "cassette miss at system: the system prompt changed",
        )


# -- the words, without a session -----------------------------------------------------------------------


def test_group_lines_say_once_how_many_cases_differ_at_the_same_path() -> None:
    paths = ["system"] * 14 + ["messages[3].content"] * 2 + ["tools"] + [None] * 3
    random.Random(4).shuffle(paths)
    assert miss_groups(paths) == [
        "14 cases differ at `system`: the system prompt changed; if it changed on purpose, re-record with "
        "--flywheel-record=rewrite (or new_episodes to keep what is recorded)",
        "2 cases differ at `messages[3].content`: message 4 of the conversation changed; if it changed on "
        "purpose, re-record with --flywheel-record=rewrite (or new_episodes to keep what is recorded)",
    ]
    assert [line.split(":")[0] for line in miss_groups(paths, at_least=1)][-1] == "1 case differs at `tools`"
    assert miss_groups([None, None]) == []
    assert miss_summary("model") == "cassette miss at model: the model changed"


def test_the_window_lines_show_each_side_aligned_around_every_change() -> None:
    rng = random.Random(9)
    words = "the order ship refund policy customer café 注文 asks keeps short plain answer".split()
    for _ in range(300):
        recorded = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 60)))
        live_words = recorded.split(" ")
        for _ in range(rng.randrange(1, 3)):
            position = rng.randrange(len(live_words) + 1)
            if rng.random() < 0.5 and position < len(live_words):
                live_words[position] = rng.choice(words) + rng.choice(["", "!", "\n"])
            else:
                live_words.insert(position, rng.choice(words))
        live = " ".join(live_words)
        if live == recorded:
            continue
        here, there, marks = text_window(live, recorded)
        assert here.startswith('here:     "') and there.startswith('recorded: "')
        # each line shows stretches of its own side (as JSON string text, "…" where it is cut; the
        # padding that aligns the two lines aside)
        for line, text in ((here, live), (there, recorded)):
            shown = json.loads(line.split(":", 1)[1].strip())
            for piece in shown.split("…"):
                assert "".join(piece.split()) in "".join(text.split()), (piece, text)
        # the lines agree up to the first mark, and the marks end where the longer line's change does
        assert "^" in marks
        first = marks.index("^")
        assert _up_to_column(here, first)[10:] == _up_to_column(there, first)[10:]
        assert len(marks) <= max(display_width(here), display_width(there))


def _up_to_column(line: str, column: int) -> str:
    shown = ""
    while shown != line and display_width(shown + line[len(shown)]) <= column:
        shown += line[len(shown)]
    return shown


def test_a_change_that_runs_on_past_the_window_marks_only_what_really_differs() -> None:
    # two edits: one word early, and a long text appended at the end (found on the example project)
    start = "Never make up a policy, a price, "
    tail = " or an order status. End a policy answer with the line Source."
    here, there, marks = text_window(
        start + "a delivery date" + tail + " Be nice." * 500, start + "a time limit" + tail
    )
    assert here.endswith('…"') and there.endswith('…"')
    assert marks.strip() == "^" * len("delivery date")
    assert here[: marks.index("^")].endswith("a price, a ") and "Be nice" not in here


def test_values_other_than_text_and_long_ones_are_shown_as_json() -> None:
    tools = [{"name": "lookup", "description": "Look an order up by its id, then say where it is.", "x": 1}]
    changed = Difference("tools[0]", "a text now", tools[0])
    assert describe_difference(changed) == (
        "at tools[0] (the tools changed):\n"
        '  here:     "a text now"\n'
        '  recorded: {"name": "lookup", "description": "Look an order up by its id, then say where it is.", "x": 1}'
    )
    longer = describe_difference(
        Difference("messages", [1, 2], [1, 2, {"role": "user", "content": "more"}], "length")
    )
    assert longer == (
        'at messages: 2 items here, 3 recorded; messages[2] is only recorded: {"role": "user", '
        '"content": "more"}'
    )
    huge = describe_difference(Difference("system", "a" * 10**6 + "b", "a" * 10**6 + "c"))
    assert len(huge) < 400 and huge.count("\n") == 3
