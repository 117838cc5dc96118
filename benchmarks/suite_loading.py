"""Loading a suite file: libyaml + node marks (what ``load_suite`` does) vs ruamel.yaml round-trip.

Every pytest run with ``--flywheel-suite`` loads its suite files, so reading one must be cheap. The
alternative is reading with ruamel.yaml's round-trip loader (the one ``flywheel suite add`` edits with),
whose ``.lc`` positions could also give the error lines. Both then run the same JSON Schema and pydantic
validation. Run: ``python benchmarks/suite_loading.py [--cases 1000] [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from pytest_flywheel.suites.loading import load_suite
from pytest_flywheel.suites.models import SuiteFile
from pytest_flywheel.suites.reading import parse_yaml
from pytest_flywheel.suites.validation import schema_problems


def suite_text(cases: int) -> str:
    lines = ["version: 1", "name: bench", "target: support.agent:answer", "cases:"]
    for number in range(cases):
        lines += [
            f"  - id: where-is-order-{number}",
            "    input:",
            f"      question: Where is my order {number}? It was due last week.",
            "      user_id: 42",
            "    assertions:",
            "      - The response must give the order's delivery date.",
            f'      - contains: "{number}"',
            "      - tool_called: lookup_order",
            f'        args: {{order_id: "{number}"}}',
            "    tags: [orders]",
            "    source:",
            f"      trace_id: 0192abcdef{number:06d}",
            "      project: default",
            "      captured_at: '2026-11-22T02:39:00Z'",
        ]
    return "\n".join(lines) + "\n"


def to_plain(value: Any) -> Any:
    """ruamel's values as plain suite data (its round-trip types are dict and list subclasses)."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    return value


def ruamel_round_trip(path: Path) -> SuiteFile:
    """The alternative: ruamel round-trip read, then the same schema and model validation."""
    data = to_plain(YAML().load(path.read_text()))
    assert not schema_problems(data)
    return SuiteFile.model_validate(data)


def interleaved_medians(actions: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median seconds of each action, run in turn within every round so that all see the same load."""
    for action in actions:
        action()  # warm: schema compiled, imports done
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat):
        for slot, action in zip(times, actions, strict=True):
            start = time.perf_counter()
            action()
            slot.append(time.perf_counter() - start)
    return [statistics.median(slot) for slot in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("| cases | load_suite (libyaml) s | ruamel round-trip s | ratio | parse only: libyaml s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for cases in args.cases:
            path = Path(folder) / "bench.yaml"
            path.write_text(suite_text(cases))
            text = path.read_text()
            ours, theirs, parse = interleaved_medians(
                [
                    lambda path=path: load_suite(path),
                    lambda path=path: ruamel_round_trip(path),
                    lambda text=text: parse_yaml(text, "bench.yaml"),
                ],
                args.repeat,
            )
            print(f"| {cases} | {ours:.3f} | {theirs:.3f} | x{theirs / ours:.1f} | {parse:.3f} |")


if __name__ == "__main__":
    main()
