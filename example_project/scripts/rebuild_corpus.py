"""Regenerate the committed regression corpus (``flywheel/``) from scratch.

    cd example_project && python scripts/rebuild_corpus.py

1. Simulate production: 200 requests through the production agent (``v1``), answered by the offline
   stand-in model, traced into a fresh temporary store, with customer feedback.
2. Capture: each request of ``corpus_cases.CASES`` is found among those traces and added to
   ``customer-support-qa`` with ``flywheel suite add`` (its assertions, tags and notes; the cassette
   holds the production LLM and tool traffic).
3. Red: the suite replayed with the production agent (``SUPPORT_AGENT_VERSION=v1``); the stand-in
   judge's verdicts on the production replies are cached, so anyone can see them fail offline.
4. Green: the fixed agent (``v2``), re-recorded with ``--flywheel-record=new_episodes``: new model
   calls go to the stand-in, and are judged by the stand-in judge. The hand-written tests in
   ``tests/`` are recorded and judged in the same run.
5. Check: the main job, offline, with no key (``--flywheel-offline``), passes.

Everything here is answered by the stand-ins (``support_agent/standin.py``, ``standin_judge.py``):
same input, same corpus, except trace ids, timestamps, and two things of the loopback server in
the cassettes: its port in the URLs (replay does not compare hosts) and its ``request-id`` response
headers (a counter, whose order follows the plugin's overlapping calls). Verdicts in ``verdicts.jsonl`` say
``"model": "flywheel-standin-judge"``; to have Claude judge them instead run the suite with
``ANTHROPIC_API_KEY`` and ``--flywheel-update-verdicts``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from corpus_cases import CASES, SUITE

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "flywheel"


def clean_env(store: Path) -> dict[str, str]:
    """The environment for every step: no key, no stray settings, the temporary store."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FLYWHEEL_", "SUPPORT_AGENT_"))
    }
    env["FLYWHEEL_STORE"] = str(store)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(args: list[str], env: dict[str, str], *, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    print(f"\n$ {' '.join(args)}", flush=True)
    done = subprocess.run(args, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    print((done.stdout + done.stderr).rstrip()[-4000:], flush=True)
    if expect is not None and done.returncode != expect:
        raise SystemExit(f"rebuild_corpus: {args[:4]} exited {done.returncode}, expected {expect}; stopping.")
    return done


def flywheel(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest_flywheel.cli", *args]


def pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--flywheel-suite={SUITE}", *args]


def production_traces(env: dict[str, str]) -> dict[tuple[str, str | None], str]:
    """The first trace id of each (question, customer) in the store."""
    listing = run(flywheel("traces", "list", "--json", "--name", "answer", "--limit", "100000"), env)
    first: dict[tuple[str, str | None], tuple[str, str]] = {}
    for line in listing.stdout.splitlines():
        if not line.strip().startswith("{"):
            continue
        trace = json.loads(line)
        arguments = trace.get("input") or {}
        key = (str(arguments.get("question")), arguments.get("customer_id"))
        started = str(trace.get("start") or "")  # ISO 8601: orders as text
        if key not in first or started < first[key][0]:
            first[key] = (started, str(trace["id"]))
    return {key: trace_id for key, (_, trace_id) in first.items()}


def main() -> int:
    for path in (CORPUS / "suites" / f"{SUITE}.yaml", CORPUS / "verdicts.jsonl"):
        path.unlink(missing_ok=True)
    shutil.rmtree(CORPUS / "cassettes", ignore_errors=True)

    with tempfile.TemporaryDirectory(prefix="support-agent-store-") as scratch:
        env = clean_env(Path(scratch) / "flywheel.db")
        run([sys.executable, "-m", "support_agent.simulate", "--requests", "200", "--seed", "7"], env)
        traces = production_traces(env)
        for case in CASES:
            trace_id = traces.get((case.question, case.customer_id))
            if trace_id is None:
                raise SystemExit(
                    f"rebuild_corpus: no simulated trace asks {case.question!r}; change the seed."
                )
            args = ["suite", "add", SUITE, "--trace", trace_id, "--id", case.id, "--notes", case.notes]
            for assertion in case.assertions:
                args += (
                    ["--assert", assertion]
                    if isinstance(assertion, str)
                    else ["--check", json.dumps(assertion)]
                )
            for tag in case.tags:
                args += ["--tag", tag]
            run(flywheel(*args), env)
        run(
            pytest("--standin", f"flywheel/suites/{SUITE}.yaml"),
            {**env, "SUPPORT_AGENT_VERSION": "v1"},
            expect=1,
        )
        run(pytest("--standin", "--flywheel-record=new_episodes"), env)
        run(pytest("--flywheel-offline"), env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
