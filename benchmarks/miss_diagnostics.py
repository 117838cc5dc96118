"""Diagnosing a cassette miss: the structural closest-request finder vs. the SequenceMatcher way it replaced.

    python benchmarks/miss_diagnostics.py [--repeat 3] [--turns 40] [--huge]

A case's cassette holds one agent run of ``--turns`` consecutive ``messages.create`` calls (a retail
support agent: a system prompt, 15 tools and a history that grows by tool calls and results;
tests/replay/conversations.py, from the shared corpus's tau-bench shop when it is there, seeded random
text otherwise). The live request is the middle call with one word of its system prompt changed: the
miss a one-line prompt edit makes. Per miss, timed on the same open cassette and the same request:

* **structural** (as shipped): ``ReplaySession._request_missed``: the recorded requests' match keys,
  :func:`pytest_flywheel.replay.closest.diagnose`, and the words of the error (the aligned window);
* **SequenceMatcher** (before): vcrpy's ``find_requests_with_most_matches``, then the recorded request
  whose canonical JSON body is most alike by ``difflib.SequenceMatcher(...).ratio()``
  (``matching.similarity``), then ``first_difference``: what ``_request_missed`` did until then.

Both must name the same recorded interaction; the script checks that before it reports any time.
Rounds run the two in turn, so that both see the same load; figures are medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcr.request import Request  # noqa: E402

from pytest_flywheel.redaction import Redactor  # noqa: E402
from pytest_flywheel.replay import replay_case, write_case_cassette  # noqa: E402
from pytest_flywheel.replay.matching import first_difference, parse_json_body, similarity  # noqa: E402
from pytest_flywheel.replay.session import ReplaySession  # noqa: E402
from tests.replay.conversations import body_size, conversation, retail_data  # noqa: E402
from tests.replay.spans import llm_span  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
URI = "http://127.0.0.1:9/v1/messages"


def sequence_matcher_way(cassette: Any, request: Any) -> int:
    """What ``_request_missed`` did before: returns the index of the closest recorded request."""
    similar = cassette.find_requests_with_most_matches(request)
    recorded, _, _ = max(similar, key=lambda item: similarity(request.body, item[0].body))
    first_difference(parse_json_body(request.body), parse_json_body(recorded.body))
    return next(index for index, (stored, _) in enumerate(cassette.data) if stored is recorded)


def structural_way(session: ReplaySession, cassette: Any, request: Any) -> int:
    error = session._request_missed(cassette, request)
    session.misses.clear()
    interaction = str(error).split("(interaction ", 1)[1].split(" ", 1)[0]
    return int(interaction) - 1


def timed(action: Callable[[], int], rounds: list[float]) -> int:
    start = time.perf_counter()
    found = action()
    rounds.append(time.perf_counter() - start)
    return found


def run(label: str, *, corpus: Path | None, turns: int, extra: int, repeat: int, old: bool) -> None:
    data = retail_data(corpus)
    calls = conversation(data, turns=turns, extra_records=extra)
    sizes = [body_size(kwargs) for kwargs, _ in calls]
    target = len(calls) // 2
    kwargs = dict(calls[target][0])
    words = kwargs["system"].split(" ")
    words[len(words) // 3] = "changed"
    kwargs["system"] = " ".join(words)
    body = json.dumps(kwargs, ensure_ascii=False, separators=(",", ":")).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = write_case_cassette(
            [llm_span(k, r) for k, r in calls], Path(folder) / "case.yaml", redactor=Redactor()
        )
        with replay_case(path) as session:
            cassette = session.vcr_cassette
            request = Request("POST", URI, body, {"content-type": "application/json"})
            new_times: list[float] = []
            old_times: list[float] = []
            for _ in range(repeat):
                picked = timed(lambda: structural_way(session, cassette, request), new_times)
                assert picked == target, (label, picked, target)
                if old:
                    before = timed(lambda: sequence_matcher_way(cassette, request), old_times)
                    assert before == picked, (
                        f"{label}: SequenceMatcher picked {before + 1}, structural {picked + 1}"
                    )
    new = statistics.median(new_times) * 1000
    cells = [
        label,
        f"{len(calls)}",
        f"{statistics.mean(sizes) / 1000:.0f} / {max(sizes) / 1000:.0f}",
        f"{new:.1f}",
    ]
    if old_times:
        before_ms = statistics.median(old_times) * 1000
        cells += [f"{before_ms:,.0f}", f"x{before_ms / new:,.0f}"]
    else:
        cells += ["not run", ""]
    print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Rounds per conversation")
    parser.add_argument("--turns", type=int, default=40, help="Interactions in the cassette")
    parser.add_argument(
        "--huge", action="store_true", help="Also time the old way on the 700 kB history (minutes per miss)"
    )
    args = parser.parse_args()
    corpus = CORPUS if CORPUS.is_dir() else None
    print(
        "| conversation | interactions | body kB, mean / last | structural ms | SequenceMatcher ms | ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    run("generated text", corpus=None, turns=args.turns, extra=0, repeat=args.repeat, old=True)
    if corpus is not None:
        run("tau-bench retail", corpus=corpus, turns=args.turns, extra=0, repeat=args.repeat, old=True)
        run(
            "tau-bench retail, long tool results",
            corpus=corpus,
            turns=args.turns,
            extra=20,
            repeat=args.repeat,
            old=args.huge,
        )


if __name__ == "__main__":
    main()
