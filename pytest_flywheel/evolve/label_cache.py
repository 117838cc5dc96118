"""The LLM label cache: ``flywheel/failure_labels.jsonl``, one trace's LLM labels a line.

Kept like the verdict cache: the key is ``sha256:`` of the canonical JSON of everything that can
change the labels (the model, the prompt version, the label set, and the trace content exactly as
sent); lines are sorted by key for small diffs; the file is written atomically, merged under the
project folder's lock with whatever another process wrote meanwhile; a line that cannot be read is
a warning naming the line, and the other lines still serve. Commit it, and a second triage of the
same traces makes no model call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flywheel.files import folder_lock, write_atomic

FILE_NAME = "failure_labels.jsonl"


@dataclass(frozen=True)
class CachedLabels:
    """One cache line: the labels (name and evidence) a model gave one trace's content."""

    key: str
    labels: tuple[tuple[str, str], ...]
    model: str
    prompt_version: str
    trace_id: str
    labelled_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "labels": [{"name": name, "evidence": evidence} for name, evidence in self.labels],
            "model": self.model,
            "prompt_version": self.prompt_version,
            "trace_id": self.trace_id,
            "labelled_at": self.labelled_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> CachedLabels:
        """Raises ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        key = data.get("key")
        if not isinstance(key, str) or not key.startswith("sha256:"):
            raise ValueError(f"key must be a string starting with 'sha256:', found {key!r}")
        for name in ("model", "prompt_version", "trace_id", "labelled_at"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"{name} must be a string, found {data.get(name)!r}")
        labels = data.get("labels")
        if not isinstance(labels, list):
            raise ValueError(f"labels must be a list, found {labels!r}")
        pairs: list[tuple[str, str]] = []
        for item in labels:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ValueError(f"each label must be an object with a name, found {item!r}")
            pairs.append((item["name"], str(item.get("evidence") or "")))
        return cls(key, tuple(pairs), data["model"], data["prompt_version"], data["trace_id"], data["labelled_at"])


def _line(entry: CachedLabels) -> str:
    return json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=False, separators=(", ", ": "))


class LabelCache:
    """The entries of one cache file, plus those added in this run (written by :meth:`save`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._lock = threading.Lock()  # labelling threads put while the main thread saves
        self._entries: dict[str, CachedLabels] = {}
        self._added: dict[str, CachedLabels] = {}
        self._entries.update(self._read(path, self.warnings))

    @staticmethod
    def _read(path: Path, warnings: list[str]) -> dict[str, CachedLabels]:
        found: dict[str, CachedLabels] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return found
        except (OSError, UnicodeDecodeError) as exc:
            warnings.append(f"{path}: cannot be read ({exc}); every trace is labelled again")
            return found
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = CachedLabels.from_json(json.loads(line))
            except (ValueError, json.JSONDecodeError, RecursionError) as exc:
                warnings.append(f"{path}:{number}: not a label cache entry ({exc}); the line is ignored")
                continue
            found[entry.key] = entry
        return found

    def get(self, key: str) -> CachedLabels | None:
        with self._lock:
            return self._added.get(key) or self._entries.get(key)

    def put(self, entries: Iterable[CachedLabels]) -> None:
        with self._lock:
            for entry in entries:
                self._added[entry.key] = entry

    @property
    def added(self) -> int:
        return len(self._added)

    def save(self) -> bool:
        """Merge the new entries into the file (re-read under the folder's lock), sorted, atomically;
        False if there was nothing new. Unreadable lines of the file are kept as they were, after the
        entries."""
        with self._lock:
            new = dict(self._added)
        if not new:
            return False
        with folder_lock(self.path.parent):
            current: dict[str, CachedLabels] = self._read(self.path, [])
            current.update(new)
            kept = self._unreadable_lines()
            lines = [_line(current[key]) for key in sorted(current)] + kept
            write_atomic(self.path, "\n".join(lines) + "\n")
        with self._lock:
            self._entries.update(new)
            for key in new:
                self._added.pop(key, None)
        return True

    def _unreadable_lines(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return []
        kept: list[str] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                CachedLabels.from_json(json.loads(line))
            except (ValueError, json.JSONDecodeError, RecursionError):
                kept.append(line)  # a person's bad edit or a merge marker: not ours to delete
        return kept
