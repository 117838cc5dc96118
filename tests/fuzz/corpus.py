"""A fuzz corpus of suite files and cassettes, generated from valid ones with a fixed seed.

Each file is a valid file broken one or a few ways at once: lines deleted, doubled, swapped, cut or
re-indented; values swapped for other types; anchors and aliases (shared, recursive, bombs); tags
(standard, Python, unknown); control characters and bytes that are not UTF-8; a BOM, CRLF line ends,
a second document, deep nesting, huge numbers, empty files. The same seed gives the same files.
"""

from __future__ import annotations

import random
from collections.abc import Callable

SEED = 20261122

SUITE = """\
# pytest-flywheel suite. Run it with: pytest --flywheel-suite=qa
version: 1
name: qa
description: Answers about orders.
target: support.agent:answer
judge: {model: claude-sonnet-5-5, options: {effort: low}}
cases:
  - id: where-is-my-order
    input: &order
      question: Where is my order 1234?
      user_id: 7
    assertions:
      - The response must give the order's delivery date.
      - contains: "1234"
      - tool_called: lookup_order
        args: {order_id: "1234"}
    tags: [orders, p1]
    source: {trace_id: 0192abcdef000001, project: default, captured_at: '2026-11-22T02:39:00Z'}
    notes: Production answer invented a date.
  - id: refund-opened-tea
    input: {question: Can I return opened tea?, history: [hi, "order 77"]}
    assertions:
      - regex: "(?i)refund"
      - not_contains: guarantee
      - max_latency_ms: 2500
      - max_cost_usd: 0.05
    cassette: flywheel/cassettes/qa/refund-opened-tea.yaml
  - id: schema-check
    input: {<<: *order, question: JSON please}
    assertions:
      - json_schema: {type: object, required: [answer]}
"""

TEXT_VALUES = [
    "~",
    "null",
    "true",
    "no",
    "0x1F",
    "1:20",
    "010",
    "-.inf",
    ".nan",
    "1e400",
    "9" * 60,
    "''",
    '""',
    "[]",
    "{}",
    "[1, [2, [3]]]",
    "{a: {b: {c: d}}}",
    "'quoted: text'",
    "|\n  block\n  text",
    "2026-11-22",
    "2026-13-45T99:99:99Z",
    "!!binary aGk=",
    "!!python/tuple [1, 2]",
    "!!set {a, b}",
    "!custom x",
    "!!python/object/apply:os.system [ls]",
    "!!int nope",
    "!!float x",
    "&anchor value",
    "*anchor",
    "*undefined",
    '"\\x00\\u2028"',
    "<<",
    "=",
    "? complex",
    "- item",
    "'" + "x" * 5000 + "'",
]

TAGS = [
    "!!binary",
    "!!str",
    "!!int",
    "!!map",
    "!!seq",
    "!!set",
    "!!omap",
    "!!timestamp",
    "!!python/tuple",
    "!!python/name:os.system",
    "!custom",
    "!<tag:example.com,2000:x>",
    "!",
    "!!null",
    "!!bool",
]

GARBAGE = [
    b"\x00",
    b"\x07",
    b"\x1b[31m",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf0\x28\x8c\xbc",
    b"\xef\xbb\xbf",
    b"\r",
    b"\t",
    b"\x85",
    "\u2028".encode(),
    b"\x7f",
    b"%",
    b"@",
    b"`",
    b"|",
    b">",
]


def _lines(text: str) -> list[str]:
    return text.split("\n")


class Mutator:
    """Breaks a valid YAML text in seeded, varied ways."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def pick_line(self, lines: list[str]) -> int:
        return self.random.randrange(len(lines))

    # -- one change each ---------------------------------------------------------------------------

    def delete_lines(self, text: str) -> str:
        lines = _lines(text)
        for _ in range(self.random.randint(1, 3)):
            if len(lines) > 1:
                del lines[self.pick_line(lines)]
        return "\n".join(lines)

    def double_line(self, text: str) -> str:
        lines = _lines(text)
        index = self.pick_line(lines)
        lines.insert(index, lines[index])
        return "\n".join(lines)

    def swap_lines(self, text: str) -> str:
        lines = _lines(text)
        a, b = self.pick_line(lines), self.pick_line(lines)
        lines[a], lines[b] = lines[b], lines[a]
        return "\n".join(lines)

    def reindent(self, text: str) -> str:
        lines = _lines(text)
        index = self.pick_line(lines)
        shift = self.random.choice([-4, -2, -1, 1, 2, 3, 8])
        lines[index] = " " * max(0, shift) + lines[index][max(0, -shift) :]
        return "\n".join(lines)

    def truncate(self, text: str) -> str:
        return text[: self.random.randrange(len(text) + 1)]

    def swap_value(self, text: str) -> str:
        """A value (after ``key:`` or ``- ``) replaced by another type or a tricky scalar."""
        lines = _lines(text)
        candidates = [i for i, line in enumerate(lines) if ": " in line or line.strip().startswith("- ")]
        if not candidates:
            return text
        index = self.random.choice(candidates)
        line = lines[index]
        cut = line.index(": ") + 2 if ": " in line else line.index("- ") + 2
        lines[index] = line[:cut] + self.random.choice(TEXT_VALUES)
        return "\n".join(lines)

    def swap_key(self, text: str) -> str:
        lines = _lines(text)
        candidates = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
        if not candidates:
            return text
        index = self.random.choice(candidates)
        line = lines[index]
        indent = len(line) - len(line.lstrip(" -"))
        key = self.random.choice(
            ["1", "~", "true", "[a]", "{k: v}", "? x", "<<", "id", "version", "'quoted'"]
        )
        lines[index] = line[:indent] + key + line[line.index(":") :]
        return "\n".join(lines)

    def add_tag(self, text: str) -> str:
        lines = _lines(text)
        candidates = [i for i, line in enumerate(lines) if ": " in line]
        if not candidates:
            return text
        index = self.random.choice(candidates)
        line = lines[index]
        cut = line.index(": ") + 2
        lines[index] = line[:cut] + self.random.choice(TAGS) + " " + line[cut:]
        return "\n".join(lines)

    def aliases(self, text: str) -> str:
        """An anchor on one value, aliases elsewhere: shared, recursive, undefined, or a bomb."""
        lines = _lines(text)
        candidates = [i for i, line in enumerate(lines) if line.rstrip().endswith(":") or ": " in line]
        if not candidates:
            return text
        kind = self.random.choice(["shared", "recursive", "undefined", "bomb", "merge", "twice"])
        anchor_at = self.random.choice(candidates)
        line = lines[anchor_at]
        if line.rstrip().endswith(":"):
            lines[anchor_at] = line.rstrip() + " &a"
        else:
            cut = line.index(": ") + 2
            lines[anchor_at] = line[:cut] + "&a " + line[cut:]
        use_at = self.random.choice(candidates)
        target = lines[use_at]
        cut = target.index(":") + 1
        if kind == "shared":
            lines[use_at] = target[:cut] + " *a"
        elif kind == "recursive":
            lines.insert(anchor_at + 1, " " * (len(line) - len(line.lstrip()) + 2) + "self: *a")
        elif kind == "undefined":
            lines[use_at] = target[:cut] + " *nowhere"
        elif kind == "merge":
            lines[use_at] = target[:cut] + " {<<: *a, extra: 1}"
        elif kind == "twice":
            lines[use_at] = target[:cut] + " &a again"
        else:
            levels = self.random.randint(4, 9)
            bomb = ["b0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
            bomb += [f"b{n}: &b{n} [{', '.join([f'*b{n - 1}'] * 10)}]" for n in range(1, levels + 1)]
            lines = bomb + lines
            lines[use_at + len(bomb)] = lines[use_at + len(bomb)][:cut] + f" *b{levels}"
        return "\n".join(lines)

    def structure(self, text: str) -> str:
        kind = self.random.choice(["second document", "deep", "huge number", "bom crlf", "long line", "flow"])
        if kind == "second document":
            return text + "\n---\nversion: 2\n"
        if kind == "deep":
            depth = self.random.choice([50, 98, 101, 500, 2000])
            return text + "\nextra: " + "[" * depth + "]" * depth
        if kind == "huge number":
            return text.replace("2500", "9" * self.random.choice([20, 400, 5000]), 1).replace(
                "version: 1", "version: " + "1" * 5000, self.random.randint(0, 1)
            )
        if kind == "bom crlf":
            return "\ufeff" + text.replace("\n", "\r\n")
        if kind == "long line":
            return text.replace("Production answer", "x" * 200_000, 1) + "\nz: " + "y" * 100_000
        return (
            "{" + ", ".join(line.strip() for line in _lines(text)[:6] if ":" in line) + "}"
        )  # flow, mangled

    def empty(self, text: str) -> str:
        return self.random.choice(
            ["", "\n", "   \n\t\n", "# only a comment\n", "~\n", "[]\n", "{}\n", "---\n"]
        )

    # -- the corpus --------------------------------------------------------------------------------

    def mutate(self, text: str) -> bytes:
        changes: list[Callable[[str], str]] = [
            self.delete_lines, self.double_line, self.swap_lines, self.reindent, self.truncate,
            self.swap_value, self.swap_key, self.add_tag, self.aliases, self.structure,
        ]  # fmt: skip
        roll = self.random.random()
        if roll < 0.03:
            return self.empty(text).encode()
        for _ in range(self.random.choice([1, 1, 1, 2, 3])):
            text = self.random.choice(changes)(text)
        data = text.encode("utf-8", "surrogatepass")
        if self.random.random() < 0.15:  # garbage bytes somewhere
            for _ in range(self.random.randint(1, 4)):
                at = self.random.randrange(len(data) + 1)
                data = data[:at] + self.random.choice(GARBAGE) + data[at:]
        return data


def corpus(base: str, count: int, seed: int = SEED) -> list[bytes]:
    """``count`` broken variants of ``base`` (the same ones for the same seed)."""
    mutator = Mutator(seed)
    return [mutator.mutate(base) for _ in range(count)]
