"""People's labels on verdicts: ``flywheel/labels.jsonl``, committed next to ``verdicts.jsonl``.

A label says what a person found an assertion to be on one recorded reply: pass or fail, with an
optional note. It is keyed like the verdict it was given on (the verdict key of
:func:`pytest_flywheel.judge.cache.verdict_key`: backend, model, prompt version, judge settings,
assertion, case input, output and trajectory), so a label applies to exactly the reply it was given on
and the plugin can look it up with the keys it already computes.

The file is one JSON object a line, sorted by key, written whole through the one atomic writer while
the folder lock is held (two people labelling at once, or a label written while a review runs, both
land). Unlike the verdict cache, a line that is not a label is an **error** naming the file and the
line: a label can override the judge in the gate, so a mangled one is never silently ignored, and
nothing is rewritten until it is fixed. Fields this version does not know are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.files import folder_lock, write_atomic

LABELS_FILE = "labels.jsonl"

#: Field order in the file: what a reviewer reads first comes first.
_FIELDS = ("key", "passed", "judge_passed", "judge_model", "assertion", "suite", "case", "note", "labelled_at")


class LabelFileError(FlywheelError):
    """The labels file could not be read or written; nothing in it was changed."""


class LabelValueError(FlywheelError):
    """A value given for a label (a note) that cannot be kept in the file."""


def require_text(text: str, *, what: str) -> str:
    """``text`` unchanged when it is valid Unicode text; :class:`LabelValueError` otherwise (bytes that
    were not UTF-8 reach Python as lone surrogates, from an argument or a terminal)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LabelValueError(
            f"{what} is not valid UTF-8 text (byte {exc.object[exc.start:exc.end]!r} at position {exc.start}); "
            "write it again in UTF-8."
        ) from None
    return text


def labels_path(settings: Settings) -> Path:
    """``<flywheel dir>/labels.jsonl``."""
    return settings.dir / LABELS_FILE


def now_iso() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Label:
    """One person's verdict on one assertion about one recorded reply.

    ``passed`` is the person's answer. ``judge_passed`` and ``judge_model`` are what the judge said and
    which model said it when the label was given (kept so that the figures survive a pruned verdict
    file; the current verdict file wins when it holds the key). ``suite`` is None for a hand-written
    test; ``case`` is the pytest node id.
    """

    key: str
    passed: bool
    assertion: str
    judge_passed: bool | None = None
    judge_model: str | None = None
    suite: str | None = None
    case: str | None = None
    note: str = ""
    labelled_at: str = ""
    #: Fields of a newer format, kept so that rewriting the file loses nothing.
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def agrees(self) -> bool | None:
        """Whether the person agreed with the judge's verdict of the time (None when it is unknown)."""
        return None if self.judge_passed is None else self.judge_passed == self.passed

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS}
        for name in ("judge_passed", "judge_model", "suite", "case"):
            if data[name] is None:
                del data[name]
        data.update({name: value for name, value in self.extra.items() if name not in data})
        return data

    @classmethod
    def from_json(cls, data: Any) -> Label:
        """Raises ValueError saying what is wrong with ``data``."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        key = data.get("key")
        if not isinstance(key, str) or not key.startswith("sha256:") or len(key) != 71:
            raise ValueError(f"key must be a verdict key ('sha256:' and 64 hex digits), found {key!r}")
        if not isinstance(data.get("passed"), bool):
            raise ValueError(f"passed must be true or false, found {data.get('passed')!r}")
        if data.get("judge_passed") is not None and not isinstance(data["judge_passed"], bool):
            raise ValueError(f"judge_passed must be true, false or absent, found {data['judge_passed']!r}")
        if not isinstance(data.get("assertion"), str):
            raise ValueError(f"assertion must be a string, found {data.get('assertion')!r}")
        for name in ("judge_model", "suite", "case", "note", "labelled_at"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string or absent, found {data[name]!r}")
        return cls(
            key=key,
            passed=data["passed"],
            assertion=data["assertion"],
            judge_passed=data.get("judge_passed"),
            judge_model=data.get("judge_model"),
            suite=data.get("suite"),
            case=data.get("case"),
            note=data.get("note") or "",
            labelled_at=data.get("labelled_at") or "",
            extra={name: value for name, value in data.items() if name not in _FIELDS},
        )


def _line(label: Label) -> str:
    return json.dumps(label.to_json(), ensure_ascii=False, separators=(", ", ": "))


class LabelFile:
    """The labels of one project, as read from ``path`` (a missing file holds none)."""

    def __init__(self, path: Path, labels: Mapping[str, Label] | None = None) -> None:
        self.path = path
        self._labels: dict[str, Label] = dict(labels or {})

    @classmethod
    def load(cls, path: Path) -> LabelFile:
        """Read ``path``; :class:`LabelFileError` names the first line that is not a label."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise LabelFileError(f"The labels file {path} could not be read ({exc}); fix or restore it.") from None
        labels: dict[str, Label] = {}
        first_line: dict[str, int] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                label = Label.from_json(json.loads(raw))
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                raise LabelFileError(
                    f"{path}:{number}: not a label ({exc}). Fix the line (a merge conflict left in the "
                    "file?) or delete it; no label is read or written until then."
                ) from None
            if label.key in labels:
                raise LabelFileError(
                    f"{path}:{number}: a second label for {label.key[:19]}... (the first is on line "
                    f"{first_line[label.key]}). Keep the one that is right and delete the other."
                )
            labels[label.key] = label
            first_line[label.key] = number
        return cls(path, labels)

    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[Label]:
        return iter(self._labels[key] for key in sorted(self._labels))

    def __contains__(self, key: object) -> bool:
        return key in self._labels

    def get(self, key: str) -> Label | None:
        return self._labels.get(key)

    def for_keys(self, keys: Iterable[str]) -> dict[str, Label]:
        """The labels among ``keys`` (keys without a label are left out)."""
        return {key: self._labels[key] for key in keys if key in self._labels}

    def render(self) -> str:
        return "".join(_line(self._labels[key]) + "\n" for key in sorted(self._labels))


def save_labels(path: Path, labels: Iterable[Label]) -> LabelFile:
    """Add or replace ``labels`` in the file at ``path`` and write it back, sorted, atomically.

    The file is read again under the folder lock, so labels another process wrote meanwhile are kept.
    A label without ``labelled_at`` gets the current time. Returns the file as written.
    """
    stamp = now_iso()
    new = [label if label.labelled_at else replace(label, labelled_at=stamp) for label in labels]
    try:
        with folder_lock(path.parent):
            current = LabelFile.load(path)
            merged = LabelFile(path, {**current._labels, **{label.key: label for label in new}})
            text = merged.render()
            require_text(text, what="a label")  # checked before the file is touched
            write_atomic(path, text)
    except OSError as exc:
        raise LabelFileError(f"The labels file {path} could not be written ({exc}); the old file is intact.") from None
    return merged


def labels_for(keys: Iterable[str], *, settings: Settings | None = None) -> dict[str, Label]:
    """The people's labels on the verdicts under ``keys`` (verdict keys), read from the project's
    ``labels.jsonl``: what the gate uses instead of the judge's verdict when a key has one."""
    from pytest_flywheel.config import load_settings

    return LabelFile.load(labels_path(settings or load_settings())).for_keys(keys)
