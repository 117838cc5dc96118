"""Measure the failure taxonomy against the simulator's ground truth: precision and recall per label.

    cd example_project && python scripts/measure_taxonomy.py [--requests 200] [--seed 7] [--json]

In a temporary copy of this project (your store is not touched), with no API key, it runs the
simulated production (``python -m support_agent.simulate``), which records in
``simulation_truth.jsonl`` the failures it injected into each trace. Then it triages the store with
rule labels only (what ``flywheel triage --no-llm`` runs) and compares, over the failures triage
looked at (failed, raising or negatively rated traces):

* per **label**: precision (of the traces it labelled, how many carry a failure it reveals) and
  recall (of the traces carrying such a failure, how many it labelled). What each label reveals is
  :data:`REVEALS`, from the labels' definitions: a tool returned an error when the order does not
  exist or the lookup had no order number; figures the answer states but nothing gave it are the
  invented ones; ...
* per **injected kind**: the labels that reveal it, their recall on it and their precision.
  A kind no rule label reveals (a refund promised against the policy) needs the LLM labels.
* the number of **clusters** against the number of injected kinds among the failures.

The issue's target: every injected kind the rules can see found with precision >= 0.9; clusters at
most twice the injected kinds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Which injected failures each rule label reveals (from the label's definition).
REVEALS: dict[str, set[str]] = {
    "tool_error_result": {"unknown_order", "missing_tool_argument"},  # the lookup returns {"error": ...}
    "tool_repeated": {"repeated_tool_call"},
    "unsupported_figures": {"invented_figures"},
    "ungrounded_answer": {"invented_policy"},
    "latency_outlier": {"rambling_reply", "repeated_tool_call"},  # a slow essay; eight model calls
    "cost_outlier": {"rambling_reply", "repeated_tool_call"},
    "tool_empty_result": set(),  # the example's tools never return nothing on an injected failure
    "tool_raised": set(),
    "max_tokens": set(),
    "refusal": set(),
    "validation_error": set(),
    "step_raised": set(),
    "unhandled_exception": set(),
}
TARGET_PRECISION = 0.9


def simulate(folder: Path, requests: int, seed: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FLYWHEEL_"))}
    subprocess.run(
        [sys.executable, "-m", "support_agent.simulate", "--requests", str(requests), "--seed", str(seed)],
        cwd=folder,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def measure(folder: Path) -> dict[str, Any]:
    """Triage the copy's store (rules only) and compare with its ground truth."""
    from pytest_flywheel.config import load_settings
    from pytest_flywheel.evolve.triage import triage
    from pytest_flywheel.store import Store

    settings = load_settings(folder)
    truth = {
        entry["trace_id"]: set(entry["injected"])
        for entry in map(json.loads, (settings.store.parent / "simulation_truth.jsonl").read_text().splitlines())
    }
    with Store(settings.store, readonly=True) as store:
        report = triage(settings, store, since=None, until=time.time() + 1)
    labelled = {f.trace.id: set(f.label_names) for c in report.clusters for f in c.traces}
    labels: list[dict[str, Any]] = []
    for label, reveals in REVEALS.items():
        marked = [t for t, names in labelled.items() if label in names]
        expected = [t for t in labelled if truth.get(t, set()) & reveals]
        correct = [t for t in marked if truth.get(t, set()) & reveals]
        labels.append(
            {
                "label": label,
                "reveals": sorted(reveals),
                "labelled": len(marked),
                "correct": len(correct),
                "precision": round(len(correct) / len(marked), 3) if marked else None,
                "expected": len(expected),
                "recall": round(len(correct) / len(expected), 3) if expected else None,
            }
        )
    precision = {row["label"]: row["precision"] for row in labels}
    kinds_seen = Counter(kind for t in labelled for kind in truth.get(t, set()))
    kinds: list[dict[str, Any]] = []
    for kind, count in sorted(kinds_seen.items(), key=lambda item: (-item[1], item[0])):
        by = sorted(label for label, reveals in REVEALS.items() if kind in reveals)
        found = [t for t in labelled if kind in truth.get(t, set()) and labelled[t] & set(by)]
        # The label that finds it best: the most precise of those that found any of its traces.
        finders = [
            (precision[label] or 0.0, sum(1 for t in labelled if kind in truth.get(t, set()) and label in labelled[t]), label)
            for label in by
        ]
        finders = [item for item in finders if item[1]]
        best = max(finders) if finders else None
        kinds.append(
            {
                "kind": kind,
                "traces": count,
                "rule_labels": by,
                "found": len(found),
                "recall": round(len(found) / count, 3),
                "best_label": None if best is None else best[2],
                "best_precision": None if best is None else best[0],
                "best_recall": None if best is None else round(best[1] / count, 3),
                "seen_by_rules": best is not None,
                "target_met": None if best is None else best[0] >= TARGET_PRECISION,
            }
        )
    return {
        "traces": len(truth),
        "failures": report.failures,
        "clusters": len(report.clusters),
        "injected_kinds": len(kinds_seen),
        "labels": labels,
        "kinds": kinds,
        "cluster_titles": [(c.count, c.title) for c in report.clusters],
    }


def render(result: dict[str, Any], requests: int, seed: int) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"Simulated production: {result['traces']} traces ({requests} requests, seed {seed}, agent v1, stand-in "
        f"model); triage (rules only) looked at {result['failures']} failures.",
        "",
        f"{'LABEL':<20}{'LABELLED':>9}{'CORRECT':>9}{'PRECISION':>11}{'EXPECTED':>10}{'RECALL':>8}  REVEALS",
    ]
    for row in result["labels"]:
        if not row["labelled"] and not row["expected"]:
            continue
        lines.append(
            f"{row['label']:<20}{row['labelled']:>9}{row['correct']:>9}{pct(row['precision']):>11}"
            f"{row['expected']:>10}{pct(row['recall']):>8}  {', '.join(row['reveals'])}"
        )
    lines += ["", f"{'INJECTED KIND':<32}{'TRACES':>7}{'FOUND':>7}{'RECALL':>8}  FOUND BEST BY (precision, recall)"]
    for row in result["kinds"]:
        if row["best_label"] is not None:
            by = f"{row['best_label']} ({pct(row['best_precision'])}, {pct(row['best_recall'])})"
        elif row["rule_labels"]:
            by = f"not seen by the rules ({', '.join(row['rule_labels'])} found none)"
        else:
            by = "no rule label reveals it: LLM labels only"
        lines.append(f"{row['kind']:<32}{row['traces']:>7}{row['found']:>7}{pct(row['recall']):>8}  {by}")
    seen = [row for row in result["kinds"] if row["seen_by_rules"]]
    met = [row for row in seen if row["target_met"]]
    lines += [
        "",
        f"Kinds the rules see, found with precision >= {TARGET_PRECISION}: {len(met)} of {len(seen)}.",
        f"Clusters: {result['clusters']} for {result['injected_kinds']} injected kinds among the failures "
        f"(target <= {2 * result['injected_kinds']}).",
    ]
    lines += [f"  {count:>4}  {title}" for count, title in result["cluster_titles"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flywheel-taxonomy-") as tmp:
        folder = Path(tmp) / "example_project"
        shutil.copytree(ROOT, folder, ignore=shutil.ignore_patterns(".flywheel", "__pycache__", ".pytest_cache"))
        simulate(folder, args.requests, args.seed)
        result = measure(folder)
    print(json.dumps(result, indent=2) if args.json else render(result, args.requests, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
