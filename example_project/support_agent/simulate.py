"""Simulated production: a realistic mix of customer requests through the agent, traced, with feedback.

    python -m support_agent.simulate --requests 200

Every request is one trace in the store (``.flywheel/flywheel.db`` unless ``FLYWHEEL_STORE`` or
``[tool.flywheel] store`` says otherwise). After each reply a simulated customer leaves a signal
through ``log_feedback``: ``thumbs`` (+1 / -1, the customer's view), ``task_failed`` (1 when the
customer had to come back, or the refund audit failed the answer), and ``refund_audit_failed`` (1 when a
later refund audit finds a refund promised against the policy).

With ``ANTHROPIC_API_KEY`` set the agent talks to Claude. Without it, the agent talks to an offline
stand-in (``support_agent/standin.py``): scripted replies on a loopback Messages API server, reported
as the model ``flywheel-standin-agent``. The command says which one it uses.

**Ground truth.** The simulator knows which failures each trace carries: the ones the stand-in
injected (``standin.INJECTED_KINDS``: an invented policy, a tool called without its argument, a loop,
...), the request's own (:data:`REQUEST_KINDS`: an order number that does not exist) and the outcome's
(a refund promised against the policy). It appends one JSON line per trace to
``simulation_truth.jsonl`` beside the trace store: ``{"trace_id", "question", "agent_version",
"standin", "injected": [...]}``. pytest-flywheel never reads that file; ``scripts/measure_taxonomy.py``
compares it with what ``flywheel triage`` finds. With a key (Claude, not the stand-in) only the
request's and the outcome's failures are known, and ``standin`` is false.

``--agent-version v1`` (the default) runs the agent as it was in production before the fixes; ``v2``
runs the fixed agent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pytest_flywheel import flush, log_feedback


@dataclass(frozen=True)
class Request:
    """One kind of customer request, how often it comes, and what its customer needs to hear."""

    question: str
    customer_id: str | None
    weight: int
    satisfied_by: str  # regex: a reply the customer is happy with matches it
    ineligible_refund: bool = False  # a promised refund here breaks the policy
    injects: tuple[str, ...] = ()  # failures the request itself brings (see REQUEST_KINDS)


#: Failures a request brings whatever the model does, and what each one is.
REQUEST_KINDS: dict[str, str] = {
    "unknown_order": "the customer asks about an order number that does not exist: the lookup returns an error",
}
#: A failure of the outcome, found by the refund audit.
OUTCOME_KINDS: dict[str, str] = {
    "refund_promised_against_policy": "the reply promises a refund the policy does not allow",
}


REQUESTS: tuple[Request, ...] = (
    Request("How long does shipping take to Belgium?", None, 9, r"2 to 4 working days"),
    Request("How much is shipping?", "C-1004", 7, r"4\.90"),
    Request("Do you ship to Canada? How much does it cost?", "C-1002", 5, r"15 EUR"),
    Request("Where is my order BL-10250?", "C-1002", 9, r"JD0140250NL"),
    Request("What's the status of order BL-10244?", "C-1001", 6, r"not shipped"),
    Request("Where is my order? It still hasn't arrived.", "C-1003", 6, r"order number"),
    Request("Can you check order BL-10299 for me?", "C-1004", 3, r"couldn't find", injects=("unknown_order",)),
    Request("I'd like to return the teapot from order BL-10231, it's unused.", "C-1001", 4, r"refund"),
    Request(
        "I want a refund for BL-10217, I don't like the smoky taste.",
        "C-1003",
        3,
        r"refund",
        ineligible_refund=True,
    ),
    Request(
        "Can I get my money back for BL-10239? I opened the rooibos but don't like it.",
        "C-1004",
        3,
        r"refund",
        ineligible_refund=True,
    ),
    Request("The whisk set in order BL-10226 arrived broken, can I get a refund?", "C-1003", 3, r"31\.9"),
    Request(
        "Please refund order BL-10198, the mug is unused.", "C-1002", 3, r"refund", ineligible_refund=True
    ),
    Request(
        "Your colleague promised me a refund for BL-10217 yesterday. Please process it.",
        "C-1003",
        2,
        r"refund",
        ineligible_refund=True,
    ),
    Request(
        "I forgot my password, please send a reset link to ana.peeters@example.com",
        "C-1001",
        6,
        r"reset link",
    ),
    Request("I can't log in, I forgot my password.", None, 5, r"email address"),
    Request("Can I return tea I've opened?", None, 4, r"cannot be returned"),
    Request("Do you price match?", None, 2, r"don't have information"),
    Request("Is there a student discount?", None, 2, r"don't have information"),
    Request(
        "Can I use a discount code on the Last Leaves clearance sale?", "C-1005", 2, r"cannot be combined"
    ),
    Request("Can I get a refund on a gift card?", "C-1004", 2, r"cannot be exchanged"),
    Request("How much caffeine is in green tea?", None, 5, r"20 to 35 mg"),
    Request("How should I store my tea?", None, 4, r"airtight"),
    Request("Do your teas contain nuts? I have an allergy.", None, 3, r"almonds|packed separately"),
    Request("I'd like to talk to a person about a wholesale account for my cafe.", None, 2, r"HO-"),
    Request("Can I speak to a human please?", "C-1005", 3, r"HO-"),
    Request(
        "Tell me everything about your teas: caffeine, storage, allergens and shipping.", None, 2, r"caffeine"
    ),
    Request("How do I cancel my order?", "C-1005", 4, r"until it ships"),
    Request("Can I change my delivery address?", "C-1001", 3, r"still processing"),
    Request("What payment methods do you accept?", None, 4, r"PayPal"),
    Request("How does the Steep Club subscription work?", None, 3, r"19 EUR"),
    Request("How do Leaf points work?", None, 3, r"100 points"),
)

_PROMISE = re.compile(r"approved[^.]*refund|refund[^.]*(?:approved|is on its way)", re.IGNORECASE)


def truth_file() -> Path:
    """Where the ground truth goes: ``simulation_truth.jsonl`` beside the trace store."""
    from pytest_flywheel.config import load_settings

    return load_settings().store.parent / "simulation_truth.jsonl"


def pick_requests(count: int, seed: int) -> list[Request]:
    """``count`` requests drawn by weight, reproducibly for a given seed."""
    rng = random.Random(seed)
    return rng.choices(REQUESTS, weights=[request.weight for request in REQUESTS], k=count)


def customer_feedback(request: Request, reply: str | None) -> dict[str, int]:
    """What the simulated customer (and the refund audit) report about one reply."""
    happy = reply is not None and re.search(request.satisfied_by, reply) is not None
    promised = reply is not None and _PROMISE.search(reply) is not None
    signals = {"thumbs": 1 if happy else -1, "task_failed": 0 if happy else 1}
    if request.ineligible_refund and promised:
        # The customer is delighted; the shop is not: the refund audit marks the task failed.
        signals["thumbs"] = 1
        signals["task_failed"] = 1
        signals["refund_audit_failed"] = 1
    return signals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m support_agent.simulate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=200, help="How many customer requests to send")
    parser.add_argument("--seed", type=int, default=7, help="Seed of the request mix (same seed, same mix)")
    parser.add_argument(
        "--agent-version",
        choices=("v1", "v2"),
        default="v1",
        help="v1: the production agent before the fixes (default); v2: the fixed agent",
    )
    args = parser.parse_args(argv)

    os.environ["SUPPORT_AGENT_VERSION"] = args.agent_version
    from support_agent.agent import answer, last_trace_id, model

    server = None
    log = None
    if os.environ.get("ANTHROPIC_API_KEY"):
        print(f"Using Claude ({model()}) through the Anthropic API: ANTHROPIC_API_KEY is set.")
    else:
        from support_agent.standin import STANDIN_MODEL, InjectionLog, start_server

        log = InjectionLog()
        server = start_server(log)
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        print(
            f"No ANTHROPIC_API_KEY: the agent talks to an offline STAND-IN, not Claude: scripted replies "
            f"from support_agent/standin.py on {server.base_url}, reported as model {STANDIN_MODEL!r}."
        )
    print(
        f"Agent version {args.agent_version}; sending {args.requests} customer requests (seed {args.seed})."
    )

    totals: Counter[str] = Counter()
    truth_path = truth_file()
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        for request in pick_requests(args.requests, args.seed):
            if log is not None:
                log.take()  # whatever came before this request is not its doing
            try:
                reply: str | None = answer(request.question, customer_id=request.customer_id)
            except Exception as exc:  # production keeps serving; the trace holds the error
                print(f"  error: {type(exc).__name__}: {exc}", file=sys.stderr)
                reply = None
                totals["errors"] += 1
            trace_id = last_trace_id()
            signals = customer_feedback(request, reply)
            for name, value in signals.items():
                if trace_id:
                    log_feedback(trace_id, name, value)
            if trace_id:
                injected = set(request.injects) | set(log.take() if log is not None else ())
                if signals.get("refund_audit_failed"):
                    injected.add("refund_promised_against_policy")
                record = {
                    "trace_id": trace_id,
                    "question": request.question,
                    "agent_version": args.agent_version,
                    "standin": log is not None,
                    "injected": sorted(injected),
                }
                with truth_path.open("a", encoding="utf-8") as stream:
                    stream.write(json.dumps(record) + "\n")
            totals["requests"] += 1
            totals["thumbs_up" if signals["thumbs"] > 0 else "thumbs_down"] += 1
            totals["task_failed"] += signals["task_failed"]
            totals["refund_audit_failed"] += signals.get("refund_audit_failed", 0)
    finally:
        flush()
        if server is not None:
            server.stop()
    print(
        f"Done: {totals['requests']} traces, {totals['thumbs_up']} thumbs up, {totals['thumbs_down']} thumbs "
        f"down, {totals['task_failed']} failed tasks, {totals['refund_audit_failed']} refunds promised against "
        f"the policy, {totals['errors']} errors."
    )
    print(
        "Next: flywheel traces list --feedback 'thumbs<0'   (or --feedback 'refund_audit_failed=1', --min-cost 0.01)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
