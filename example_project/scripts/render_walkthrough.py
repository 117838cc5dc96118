"""Run the walkthrough's commands and paste their real output into ``example_project/README.md``.

    cd example_project && python scripts/render_walkthrough.py

Works in a temporary copy of the project (the committed corpus and your local store are not
touched), with no API key: every model and judge call goes to the offline stand-ins. Each
``<!-- run: NAME -->`` ... ``<!-- /run -->`` block of the README is replaced by the command of step
NAME (below) and what it printed, trimmed to the step's line budget; ``<!-- file: loop-case -->``
by the case ``flywheel suite add`` wrote, and ``<!-- code: NAME -->`` by the lines of the agent's
source it names. Nothing in those blocks is written by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LOOP_QUESTION = "Can you check order BL-10299 for me?"
LOOP_CASE_ARGS = (
    "--id unknown-order-loop --replace "
    "--assert 'The reply must say that it cannot find order BL-10299.' "
    # doubled braces: the command is a str.format template
    '--check \'{{"contains": "BL-10299"}}\' --check \'{{"max_cost_usd": 0.01}}\''
)


@dataclass(frozen=True)
class Step:
    name: str
    command: str
    max_lines: int = 40
    keep_tail: bool = False  # show the end of a long output (pytest's summary) rather than its start
    grep: str | None = None  # show only lines matching
    remember_run: str | None = None  # afterwards, keep the newest recorded run's id under this name


STEPS: tuple[Step, ...] = (
    Step("simulate", "python -m support_agent.simulate --requests 200"),
    Step("thumbs-down", "flywheel traces list --feedback 'thumbs<0' --limit 8"),
    Step("violations", "flywheel traces list --feedback 'refund_audit_failed=1' --limit 4"),
    Step("expensive", "flywheel traces list --min-cost 0.01 --limit 4"),
    Step("stats", "flywheel stats --project support-agent", max_lines=30),
    Step("triage", "flywheel triage --since 1d", max_lines=60),
    Step("show", "flywheel traces show {loop}", max_lines=22),
    Step("analyze", "flywheel analyze {loop} --no-llm", max_lines=70),
    Step("capture", f"flywheel suite add customer-support-qa --trace {{loop}} {LOOP_CASE_ARGS}"),
    Step(
        "red",
        "SUPPORT_AGENT_VERSION=v1 flywheel test run --suite customer-support-qa --standin",
        max_lines=20,
        keep_tail=True,
        remember_run="red_run",
    ),
    Step("fix", "echo y | SUPPORT_AGENT_VERSION=v1 flywheel fix customer-support-qa", max_lines=120),
    Step(
        "miss",
        "pytest --flywheel-suite=customer-support-qa -k unknown-order-loop",
        max_lines=16,
        keep_tail=True,
    ),
    Step(
        "green",
        "pytest --flywheel-suite=customer-support-qa -k unknown-order-loop --flywheel-record=new_episodes "
        "--standin",
        max_lines=16,
        keep_tail=True,
    ),
    Step(
        "all",
        "pytest --flywheel-suite=customer-support-qa",
        max_lines=16,
        keep_tail=True,
        remember_run="all_run",
    ),
    # the cases and the verdict, without each assertion's line
    Step(
        "compare",
        "flywheel runs compare {red_run} {all_run}",
        max_lines=40,
        grep=r"^(Run |[A-Z]+( [A-Z]+)? \(\d+\)|  \S|Nothing|Something|$)",
    ),
    Step("report", "flywheel report --suite customer-support-qa --stats --html report.html", max_lines=10),
    Step("agreement", "flywheel judge agreement --suite customer-support-qa", max_lines=24),
    Step("propose", "flywheel candidates propose customer-support-qa --since 1d", max_lines=12),
    Step("accept", "flywheel candidates accept {candidate}", max_lines=8),
    Step(
        "red-candidate",
        "SUPPORT_AGENT_VERSION=v1 pytest --flywheel-suite=customer-support-qa -k {candidate_case} --standin",
        max_lines=24,
        keep_tail=True,
    ),
    Step("measure", "python scripts/measure_taxonomy.py", max_lines=30),
)

#: The reviewer's edit of the proposed gift-card candidate: what the right answer must say.
REVIEWED_ASSERTION = "The reply must say that gift cards cannot be refunded or exchanged for cash."


def environment(bin_dir: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FLYWHEEL_", "SUPPORT_AGENT_"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "110"
    env["PYTHONPATH"] = "."
    return env


def trim(step: Step, text: str) -> str:
    lines = text.rstrip().splitlines()
    if step.grep:
        pattern = re.compile(step.grep)
        lines = [line for line in lines if pattern.search(line)]
    if len(lines) > step.max_lines:
        cut = len(lines) - step.max_lines
        if step.keep_tail:
            lines = [f"[... {cut} lines ...]", *lines[-step.max_lines :]]
        else:
            lines = [*lines[: step.max_lines], f"[... {cut} more lines ...]"]
    return "\n".join(lines)


def loop_trace(project: Path, env: dict[str, str]) -> str:
    """The example trace of the cluster triage labels ``tool_repeated`` (the loop)."""
    report = subprocess.run(
        ["flywheel", "triage", "--since", "1d", "--json"],
        cwd=project,
        env=env,
        text=True,
        capture_output=True,
        check=True,
    )
    for cluster in json.loads(report.stdout)["clusters"]:
        if "tool_repeated" in cluster["labels"]:
            if (cluster["example_input"] or {}).get("question") != LOOP_QUESTION:
                raise SystemExit(f"render_walkthrough: the loop cluster's example is not {LOOP_QUESTION!r}")
            return str(cluster["example_trace_id"])[:12]
    raise SystemExit("render_walkthrough: triage found no loop cluster (tool_repeated)")


def review_candidate(project: Path) -> tuple[str, str, str]:
    """Apply the reviewer's edit to the proposed candidate; its id, case id and its text in the file."""
    path = project / "flywheel" / "candidates" / "customer-support-qa.yaml"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  - id: "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("  - id: ")), len(lines))
    block = lines[start:end]
    first = next(i for i, line in enumerate(block) if line.strip() == "assertions:")
    last = next(i for i in range(first + 1, len(block)) if not block[i].startswith("      - "))
    block[first + 1 : last] = [f"      - {REVIEWED_ASSERTION}"]
    lines[start:end] = block
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    candidate = block[0].split(": ", 1)[1]
    case_id = next(line.split(": ", 1)[1] for line in block if line.startswith("    case_id: "))
    return candidate, case_id, "\n".join(block)


def newest_run(project: Path, env: dict[str, str]) -> str:
    listing = subprocess.run(
        ["flywheel", "runs", "list", "--json", "--limit", "1"],
        cwd=project,
        env=env,
        text=True,
        capture_output=True,
        check=True,
    )
    return str(json.loads(listing.stdout.splitlines()[0])["id"])[:12]


#: Code shown in the README, cut from the source: (file, first line's start, last line's start).
CODE_EXCERPTS: dict[str, tuple[str, str, str]] = {
    "loop-guard": ("support_agent/agent.py", "call_key = f", "return repeat +"),
}


def code_excerpt(file: str, first: str, last: str) -> str:
    lines = (ROOT / file).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(first))
    end = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(last))
    return textwrap.dedent("\n".join(lines[start : end + 1]))


def suite_case(project: Path, case_id: str = "unknown-order-loop") -> str:
    """The case's entry in the suite file, as ``flywheel suite add`` wrote it."""
    lines = (
        (project / "flywheel" / "suites" / "customer-support-qa.yaml")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    start = lines.index(f"  - id: {case_id}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("  - id: ")), len(lines))
    return "\n".join(lines[start:end])


def forget_verdicts(project: Path, case_id: str) -> None:
    """Drop the committed verdicts of one case, so the walkthrough shows it being judged."""
    path = project / "flywheel" / "verdicts.jsonl"
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not str(json.loads(line).get("case") or "").endswith(f"::{case_id}")
    ]
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def replace_block(readme: str, kind: str, name: str, block: str) -> str:
    marker = re.compile(
        rf"(<!-- {kind}: {re.escape(name)} -->\n)(?:(?!<!-- {kind}:).)*?(<!-- /{kind} -->)", re.DOTALL
    )
    if not marker.search(readme):
        raise SystemExit(f"render_walkthrough: README.md has no <!-- {kind}: {name} --> block")
    return marker.sub(lambda m: m.group(1) + block + "\n" + m.group(2), readme)


def main() -> int:
    readme = README.read_text(encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="walkthrough-") as scratch:
        project = Path(scratch) / "example_project"
        shutil.copytree(
            ROOT, project, ignore=shutil.ignore_patterns(".flywheel", "__pycache__", ".pytest_cache")
        )
        env = environment(bin_dir)
        forget_verdicts(project, "unknown-order-loop")
        values: dict[str, str] = {}
        for step in STEPS:
            if step.name == "show":
                values["loop"] = loop_trace(project, env)
            if step.name == "accept":
                values["candidate"], values["candidate_case"], reviewed = review_candidate(project)
                readme = replace_block(readme, "file", "candidate", f"```yaml\n{reviewed}\n```")
            command = step.command.format(**values)
            # stderr goes with stdout, as on a terminal: progress notes and questions show where they came
            done = subprocess.run(
                command,
                shell=True,
                cwd=project,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
            )
            output = done.stdout.replace(str(project), "example_project")
            output = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", output)
            block = f"```console\n$ {command}\n{trim(step, output)}\n```"
            if done.returncode:
                block += f"\n(exit status {done.returncode})"
            readme = replace_block(readme, "run", step.name, block)
            print(f"{step.name}: exit {done.returncode}", flush=True)
            if step.name == "capture":
                readme = replace_block(readme, "file", "loop-case", f"```yaml\n{suite_case(project)}\n```")
            if step.remember_run:
                values[step.remember_run] = newest_run(project, env)
    for name, (file, first, last) in CODE_EXCERPTS.items():
        readme = replace_block(readme, "code", name, f"```python\n{code_excerpt(file, first, last)}\n```")
    README.write_text(readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
