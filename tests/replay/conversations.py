"""Long agent conversations in the Messages API's shape, for cassette-miss tests and the benchmark.

A conversation is what a retail support agent sends turn after turn: one system prompt, the tools,
and a history that grows by the model's tool calls and the tools' results. With the shared corpus
(``../shared/corpus/tau-bench-retail``) the system prompt is the shop's policy, the questions are
tau-bench's tasks and the tool calls and results their real actions over the shop's data; without
it, seeded random text of the same shape stands in.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL = "claude-sonnet-5-5"
_WORDS = (
    "order item refund exchange customer address payment policy return delivered pending cancel "
    "keyboard thermostat switch backlight bottle shipping tracking confirm verify account email "
    "zip name product variant price stock warehouse agent transfer human reason gift card credit "
    "paypal request status processed approve deny explain detail total balance receipt week day"
).split()


@dataclass
class RetailData:
    """What a conversation is made of: a policy, tasks (a question and tool actions), and a lookup of
    tool results."""

    policy: str
    tasks: list[dict[str, Any]]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def result(self, name: str, arguments: dict[str, Any], rng: random.Random, extra: int) -> str:
        """A tool's result as text: the record it looks up (and ``extra`` more records besides)."""
        key = next((str(value) for value in arguments.values() if str(value) in self.records), None)
        found: Any = (
            self.records[key] if key is not None else {"ok": True, "tool": name, "arguments": arguments}
        )
        if extra:
            keys = sorted(self.records)
            found = {"result": found, "related": [self.records[rng.choice(keys)] for _ in range(extra)]}
        return json.dumps(found, ensure_ascii=False)


def retail_data(corpus: Path | None, *, seed: int = 0) -> RetailData:
    """tau-bench's retail shop from the corpus, or seeded random text of the same shape."""
    folder = corpus / "tau-bench-retail" if corpus is not None else None
    if folder is not None and folder.is_dir():
        records: dict[str, dict[str, Any]] = {}
        for name in ("orders", "users", "products"):
            records.update(json.loads((folder / f"{name}.json").read_text()))
        tasks = json.loads((folder / "tasks_test.json").read_text())
        return RetailData((folder / "wiki.md").read_text(), tasks, records)
    rng = random.Random(seed)

    def sentence(words: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."

    policy = "\n\n".join(" ".join(sentence(rng.randint(8, 20)) for _ in range(6)) for _ in range(8))
    records = {
        f"#W{number:07d}": {
            "order_id": f"#W{number:07d}",
            "status": rng.choice(["pending", "delivered", "cancelled"]),
            "items": [
                {
                    "name": rng.choice(_WORDS),
                    "item_id": str(rng.randint(10**9, 10**10)),
                    "price": rng.randint(5, 900),
                }
                for _ in range(rng.randint(1, 5))
            ],
            "note": sentence(12),
        }
        for number in range(200)
    }
    order_ids = sorted(records)
    tasks = [
        {
            "instruction": " ".join(sentence(rng.randint(10, 25)) for _ in range(3)),
            "actions": [
                {
                    "name": rng.choice(["get_order_details", "cancel_pending_order"]),
                    "kwargs": {"order_id": order},
                }
                for order in rng.sample(order_ids, rng.randint(2, 6))
            ],
        }
        for _ in range(100)
    ]
    return RetailData(policy, tasks, records)


def _schema(arguments: dict[str, Any]) -> dict[str, Any]:
    properties = {
        name: {"type": "array", "items": {"type": "string"}}
        if isinstance(value, list)
        else {"type": "string"}
        for name, value in arguments.items()
    }
    return {"type": "object", "properties": properties, "required": sorted(properties)}


def tools_of(data: RetailData) -> list[dict[str, Any]]:
    """One tool definition per tool the tasks call, described in the words of the shop's policy."""
    found: dict[str, dict[str, Any]] = {}
    for task in data.tasks:
        for action in task["actions"]:
            found.setdefault(action["name"], action["kwargs"])
    return [
        {
            "name": name,
            "description": f"{name.replace('_', ' ').capitalize()}. {data.policy[index * 97 : index * 97 + 160]}",
            "input_schema": _schema(arguments),
        }
        for index, (name, arguments) in enumerate(sorted(found.items()))
    ]


def conversation(
    data: RetailData,
    *,
    turns: int,
    seed: int = 0,
    extra_records: int = 0,
    extra_from: int = 0,
    max_tokens: int = 1024,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``turns`` consecutive ``messages.create`` calls of one agent run, each as ``(keyword arguments,
    response JSON)``: the history grows by each response and, after a tool call, the tool's result
    (which holds ``extra_records`` more records from the ``extra_from``-th call on)."""
    rng = random.Random(seed)
    tools = tools_of(data)
    task_order = rng.sample(range(len(data.tasks)), len(data.tasks))
    messages: list[dict[str, Any]] = []
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []
    ids = 0
    for task_index in task_order:
        task = data.tasks[task_index]
        messages.append({"role": "user", "content": task["instruction"]})
        steps = [*task["actions"], None]  # the tool calls, then a closing answer
        for action in steps:
            if len(calls) == turns:
                return calls
            request = {
                "model": MODEL,
                "max_tokens": max_tokens,
                "system": data.policy,
                "tools": tools,
                "messages": json.loads(json.dumps(messages)),
            }
            if action is None:
                text = f"I have taken care of it: {task['instruction'][:120]}"
                reply = _message([{"type": "text", "text": text}], "end_turn", ids)
                calls.append((request, reply))
                messages.append({"role": "assistant", "content": reply["content"]})
                break
            ids += 1
            tool_id = f"toolu_{seed:03d}_{ids:05d}"
            block = {"type": "tool_use", "id": tool_id, "name": action["name"], "input": action["kwargs"]}
            reply = _message([block], "tool_use", ids)
            calls.append((request, reply))
            messages.append({"role": "assistant", "content": reply["content"]})
            extra = extra_records if len(calls) >= extra_from else 0
            result = data.result(action["name"], action["kwargs"], rng, extra)
            messages.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": result}],
                }
            )
    return calls


def _message(content: list[dict[str, Any]], stop_reason: str, number: int) -> dict[str, Any]:
    return {
        "id": f"msg_conversation_{number:05d}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 900,
            "output_tokens": 40,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def body_size(kwargs: dict[str, Any]) -> int:
    """The size in bytes of the body the SDK sends for these keyword arguments."""
    return len(json.dumps(kwargs, ensure_ascii=False, separators=(",", ":")).encode())
