"""No verdict lost: concurrent sessions, xdist workers and a SIGKILL halfway through judging.

A 40-case suite (2 sentence assertions a case) judged by a loopback judge that waits ``--delay`` per
call; the verdict file is deleted before each scenario. For each scenario it prints how many verdicts
the judge returned (the server's answered calls x 2), how many entries the file holds afterwards, and
whether the file reads back with no corrupt line:

* 2 sessions at once, each judging half of the cases (``-k even`` / ``-k odd``);
* 4 sessions at once, each a quarter (``--flywheel-shard I/4`` in one project);
* one session with ``-n 4``;
* one session killed with SIGKILL once a third of the cases were judged.

    python benchmarks/verdict_durability.py [--delay 0.1]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from pytest_flywheel.judge.cache import VerdictCache
from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer

CASES = 40

PYPROJECT = '[tool.flywheel]\nstore = ".flywheel/flywheel.db"\n'
AGENT = "def answer(question):\n    return f'About {question}: we will refund you.'\n"


def write_project(root: Path) -> None:
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "agent.py").write_text(AGENT)
    suites = root / "flywheel" / "suites"
    suites.mkdir(parents=True)
    lines = ["version: 1\nname: many\ntarget: agent:answer\ncases:\n"]
    for number in range(CASES):
        half = "even" if number % 2 == 0 else "odd"
        lines.append(
            f"  - id: {half}-{number}\n    input: {{question: 'topic {number}'}}\n"
            f"    assertions: [\"The reply must mention 'topic'\", \"The reply must mention '{number}'\"]\n"
        )
    (suites / "many.yaml").write_text("".join(lines))


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--flywheel-suite=many", *args]


def environment(judge: MessagesAPIServer) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLYWHEEL_", "ANTHROPIC_"))}
    env.update({"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": judge.base_url})
    return env


def kept(path: Path) -> tuple[int, bool]:
    """(entries in the verdict file, whether it read back with no corrupt line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = VerdictCache.load(path, append=False)
    return len(cache), not caught and cache.corrupt_lines == 0


def scenario(root: Path, name: str, delay: float, runs: list[list[str]], *, kill_after: int | None = None) -> None:
    verdicts = root / "flywheel" / "verdicts.jsonl"
    verdicts.unlink(missing_ok=True)
    with MessagesAPIServer(verdict_handler(), delay=delay) as judge:
        env = environment(judge)
        processes = [
            subprocess.Popen(command(*args), cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for args in runs
        ]
        answered: int | None = None
        if kill_after is not None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(judge.message_requests) < kill_after:
                time.sleep(0.01)
            for process in processes:
                os.kill(process.pid, signal.SIGKILL)
            # calls still waiting on the judge's delay were never answered
            answered = len(judge.message_requests) - judge._in_flight
        for process in processes:
            process.wait(timeout=600)
        if answered is None:
            answered = len(judge.message_requests)
    entries, clean = kept(verdicts)
    print(
        f"  {name:<34} judge calls answered {answered:>3} ({answered * 2:>3} verdicts); file holds {entries:>3} "
        f"entries; reads back clean: {clean}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.1, help="Seconds the judge waits per call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flywheel-durability-") as folder:
        root = Path(folder)
        write_project(root)
        print(f"verdict durability: {CASES} cases x 2 assertions, judge delay {args.delay * 1000:.0f} ms")
        scenario(root, "2 sessions at once (halves)", args.delay, [["-k", "even", "-p", "no:xdist"], ["-k", "odd", "-p", "no:xdist"]])
        scenario(
            root, "4 sessions at once (quarters)", args.delay,
            [[f"--flywheel-shard={index}/4", "-p", "no:xdist"] for index in range(1, 5)],
        )
        scenario(root, "one session, -n 4", args.delay, [["-n", "4"]])
        scenario(root, "SIGKILL a third of the way in", args.delay, [["-p", "no:xdist"]], kill_after=CASES // 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
