"""The verdict cache: ``flywheel/verdicts.jsonl``, committed next to the suites, one verdict a line.

Like a snapshot file it is read once when a session starts and sorted by key, so that diffs and merges
stay small. Unlike a snapshot, a verdict costs money: each one is **appended to the file as its judge
call returns** (one line, under a lock on the folder), so a session killed halfway keeps every verdict
it paid for. At the end of the session the file is **merged and rewritten once**, under the same lock:
the file as it is on disk then (with what other sessions and xdist workers appended meanwhile), plus
this session's verdicts, sorted, written atomically (a temporary file renamed over the old one). Two
sessions at once, xdist workers and a SIGKILL lose nothing; a file left unsorted by a killed session
is valid and is sorted again by the next session.

A line that is not a valid entry (a bad edit, a merge conflict marker) is reported as a
:class:`VerdictCacheWarning` naming the file and line; every other entry still serves. Such lines are
*kept* when the file is written again (after the entries, in their original order) so that nothing a
person wrote is silently destroyed; ``write(prune=...)`` removes them along with the unused entries.
When a key appears twice, the later line wins (an appended re-judgement replaces the old verdict).

Each entry records which case it was judged for (``case``, the pytest node id), so that "unused" can
be decided like syrupy's unused snapshots: an entry is unused when its case ran in this session and no
assertion of that case asked for its key, or when its case no longer exists (its file is gone, or the
suite file no longer holds that case id).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pytest_flywheel.canonical import canonical_json
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.files import folder_lock, write_atomic
from pytest_flywheel.judge.types import Verdict

#: The key under which an xdist worker hands its session to the controller (``config.workeroutput``).
WORKEROUTPUT_KEY = "flywheel_verdicts"


class VerdictCacheWarning(UserWarning):
    """A verdict file line that could not be read; the other verdicts still serve."""


class VerdictCacheError(FlywheelError):
    """The verdict file could not be read or written at all."""


class JudgeIdentity(Protocol):
    """The parts of a judge that go into a verdict key (any :class:`~pytest_flywheel.judge.Judge` has them)."""

    backend: str
    model: str
    prompt_version: str
    settings: dict[str, Any]


def verdict_keys(
    judge: JudgeIdentity, assertions: list[str], input: Any, output: Any, trajectory: list[dict[str, Any]]
) -> list[str]:
    """The key of each assertion judged against one run (see :func:`verdict_key`).

    Byte for byte the canonical JSON of the whole object, assembled from canonical pieces in sorted
    key order, so that a case's input, output and trajectory are serialised once, not per assertion.
    """
    head = (
        f'"backend":{canonical_json(judge.backend)},"input":{canonical_json(input, where="the input")},'
        f'"model":{canonical_json(judge.model)},"output":{canonical_json(output, where="the output")},'
        f'"prompt_version":{canonical_json(judge.prompt_version)},"settings":{canonical_json(judge.settings)},'
        f'"trajectory":{canonical_json(trajectory, where="the trajectory")}}}'
    )
    return [
        "sha256:" + hashlib.sha256(f'{{"assertion":{canonical_json(assertion)},{head}'.encode()).hexdigest()
        for assertion in assertions
    ]


def verdict_key(
    judge: JudgeIdentity, assertion: str, input: Any, output: Any, trajectory: list[dict[str, Any]]
) -> str:
    """``"sha256:<hex>"`` of the canonical JSON (sorted keys, compact, UTF-8) of everything that can
    change this verdict: ``{assertion, backend, input, model, output, prompt_version, settings,
    trajectory}``."""
    return verdict_keys(judge, [assertion], input, output, trajectory)[0]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class VerdictEntry:
    """One line of the verdict file. ``model`` is the model that judged, as the API reported it."""

    key: str
    assertion: str
    passed: bool
    reason: str
    confidence: float
    backend: str
    model: str | None
    prompt_version: str
    judged_at: str
    case: str | None = None
    #: The judge's separate answers when it answered several times; ``passed`` is their majority.
    votes: tuple[bool, ...] | None = None

    #: Field order in the file: what a reviewer reads first comes first.
    FIELDS = ("key", "assertion", "passed", "votes", "confidence", "reason", "model", "backend",
              "prompt_version", "case", "judged_at")

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.FIELDS}
        if data["case"] is None:
            del data["case"]
        if data["votes"] is None:
            del data["votes"]
        else:
            data["votes"] = list(data["votes"])
        return data

    @classmethod
    def from_json(cls, data: Any) -> VerdictEntry:
        """Raises ValueError saying what is wrong with ``data``."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        key = data.get("key")
        if not isinstance(key, str) or not key.startswith("sha256:"):
            raise ValueError(f"key must be a string starting with 'sha256:', found {key!r}")
        for name in ("assertion", "reason", "backend", "prompt_version", "judged_at"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"{name} must be a string, found {data.get(name)!r}")
        if not isinstance(data.get("passed"), bool):
            raise ValueError(f"passed must be true or false, found {data.get('passed')!r}")
        confidence = data.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise ValueError(f"confidence must be a number, found {confidence!r}")
        for name in ("model", "case"):
            if data.get(name) is not None and not isinstance(data.get(name), str):
                raise ValueError(f"{name} must be a string or absent, found {data.get(name)!r}")
        votes = data.get("votes")
        if votes is not None and not (
            isinstance(votes, list) and votes and all(isinstance(vote, bool) for vote in votes)
        ):
            raise ValueError(f"votes must be a list of true/false or absent, found {votes!r}")
        return cls(
            key=key,
            assertion=data["assertion"],
            passed=data["passed"],
            reason=data["reason"],
            confidence=float(confidence),
            backend=data["backend"],
            model=data.get("model"),
            prompt_version=data["prompt_version"],
            judged_at=data["judged_at"],
            case=data.get("case"),
            votes=None if votes is None else tuple(votes),
        )

    @classmethod
    def from_verdict(
        cls, verdict: Verdict, *, key: str, judge: JudgeIdentity, case: str | None = None
    ) -> VerdictEntry:
        return cls(
            key=key,
            assertion=verdict.assertion,
            passed=verdict.passed,
            reason=verdict.reason,
            confidence=round(float(verdict.confidence), 4),
            backend=judge.backend,
            model=verdict.model or judge.model,
            prompt_version=judge.prompt_version,
            judged_at=_now(),
            case=case,
            votes=verdict.votes,
        )

    def to_verdict(self, *, cached: bool = True) -> Verdict:
        return Verdict(
            passed=self.passed,
            reason=self.reason,
            confidence=self.confidence,
            cached=cached,
            assertion=self.assertion,
            key=self.key,
            model=self.model,
            votes=self.votes,
        )


def _line(entry: VerdictEntry) -> str:
    return json.dumps(entry.to_json(), ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True)
class WriteResult:
    """What :meth:`VerdictCache.write` did."""

    path: Path
    written: bool
    entries: int
    added: int
    pruned: tuple[str, ...]
    corrupt_kept: int
    corrupt_dropped: int


@dataclass
class _FileContent:
    """A verdict file read: its entries by key (the later line wins), unreadable lines, and whether the
    text is exactly what writing those entries gives (sorted, one line per key)."""

    text: str
    entries: dict[str, VerdictEntry]
    corrupt: list[str]
    problems: list[str]

    @classmethod
    def parse(cls, path: Path, text: str) -> _FileContent:
        entries: dict[str, VerdictEntry] = {}
        corrupt: list[str] = []
        problems: list[str] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                entry = VerdictEntry.from_json(json.loads(raw))
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                corrupt.append(raw)
                problems.append(
                    f"{path}:{number}: not a verdict entry ({exc}); the line is ignored (and kept in the "
                    "file until --flywheel-prune), the other verdicts still serve."
                )
                continue
            entries.pop(entry.key, None)  # the later line wins, and takes the later place
            entries[entry.key] = entry
        return cls(text=text, entries=entries, corrupt=corrupt, problems=problems)

    @classmethod
    def read(cls, path: Path) -> _FileContent:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise VerdictCacheError(
                f"The verdict file {path} could not be read ({exc}). Fix or remove it; it is rebuilt "
                "from judge calls when missing."
            ) from exc
        return cls.parse(path, text)


def render_entries(entries: Mapping[str, VerdictEntry], corrupt: Iterable[str] = ()) -> str:
    """The text of a verdict file holding ``entries`` (sorted by key) and then ``corrupt`` lines."""
    lines = [_line(entries[key]) for key in sorted(entries)]
    lines.extend(corrupt)
    return "".join(line + "\n" for line in lines)


class VerdictCache:
    """The verdicts of one session: those read from the file, plus the ones judged in this session.

    Thread-safe: judge calls finishing on pool threads may ``put`` at the same time.
    ``redact`` (e.g. the ``pytest_flywheel_redact`` hook) is applied to the assertion and reason of
    every new entry before it is kept, so no secret in a judge's reason reaches the file.
    ``append`` (default on for a cache read from a file) appends each new verdict to the file at once.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        redact: Callable[[str], str] | None = None,
        append: bool | None = None,
    ) -> None:
        self.path = path
        self.redact = redact
        self.append = path is not None if append is None else append and path is not None
        #: Messages about lines that could not be read (also issued as warnings by :meth:`load`) and
        #: appends that failed.
        self.problems: list[str] = []
        self._stored: dict[str, VerdictEntry] = {}
        self._new: dict[str, VerdictEntry] = {}
        self._used: set[str] = set()
        self._corrupt: list[str] = []
        self._original_text: str | None = None
        self._lock = threading.RLock()

    # -- reading ----------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        warn: bool = True,
        redact: Callable[[str], str] | None = None,
        append: bool | None = None,
    ) -> VerdictCache:
        """Read ``path`` (a missing file is an empty cache). A bad line is a warning, not an error."""
        cache = cls(path, redact=redact, append=append)
        content = _FileContent.read(path)
        cache._original_text = content.text if path.exists() else None
        cache._stored = content.entries
        cache._corrupt = content.corrupt
        for problem in content.problems:
            cache._problem(problem, warn=warn)
        return cache

    def _problem(self, message: str, *, warn: bool) -> None:
        self.problems.append(message)
        if warn:
            warnings.warn(VerdictCacheWarning(message), stacklevel=3)

    # -- lookups ----------------------------------------------------------------------------------

    def get(self, key: str) -> VerdictEntry | None:
        """The entry under ``key`` (one judged in this session first), or None."""
        with self._lock:
            return self._new.get(key) or self._stored.get(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._new or key in self._stored

    def __len__(self) -> int:
        with self._lock:
            return len(self._stored.keys() | self._new.keys())

    def entries(self) -> dict[str, VerdictEntry]:
        """Every entry (stored and new), by key."""
        with self._lock:
            return {**self._stored, **self._new}

    def put(self, key: str, entry: VerdictEntry) -> None:
        """Keep a newly judged entry (replacing any under the same key) and mark it used."""
        self.put_many({key: entry})

    def put_many(self, entries: Mapping[str, VerdictEntry]) -> None:
        """Keep newly judged entries (one judge call's) and append them to the file at once."""
        kept: list[VerdictEntry] = []
        for key, entry in entries.items():
            if entry.key != key:
                entry = replace(entry, key=key)
            if self.redact is not None:
                entry = replace(entry, assertion=self.redact(entry.assertion), reason=self.redact(entry.reason))
            kept.append(entry)
        with self._lock:
            for entry in kept:
                self._new[entry.key] = entry
                self._used.add(entry.key)
        if self.append and self.path is not None and kept:
            try:
                append_entries(self.path, kept)
            except OSError as exc:  # kept in memory: the end-of-session write tries again
                with self._lock:
                    self.problems.append(f"could not append a verdict to {self.path} ({exc})")

    def mark_used(self, key: str) -> None:
        """Record that an assertion of this session asked for ``key``."""
        with self._lock:
            self._used.add(key)

    @property
    def new_entries(self) -> list[VerdictEntry]:
        """The entries judged in this session (or merged from workers), sorted by key."""
        with self._lock:
            return [self._new[key] for key in sorted(self._new)]

    @property
    def used_keys(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._used)

    @property
    def corrupt_lines(self) -> int:
        return len(self._corrupt)

    @property
    def needs_sorting(self) -> bool:
        """Whether the file as read is not what writing its entries gives (a killed session's appends,
        duplicated keys): the end-of-session write then rewrites it even with nothing new."""
        with self._lock:
            if self._original_text is None:
                return False
            return render_entries(self._stored, self._corrupt) != self._original_text

    def unused_keys(
        self, ran_cases: Iterable[str] | None = None, *, gone: Callable[[str], bool] | None = None
    ) -> list[str]:
        """Keys no assertion asked for, sorted. With ``ran_cases`` (the case labels that ran), only
        entries recorded for one of those cases count, and, with ``gone``, entries whose case
        ``gone(case)`` says no longer exists; without either, every unasked entry counts."""
        ran = None if ran_cases is None else set(ran_cases)
        with self._lock:
            entries = {**self._stored, **self._new}
            used = set(self._used)
        unused: list[str] = []
        for key, entry in entries.items():
            if key in used:
                continue
            if ran is None and gone is None:
                unused.append(key)
            elif entry.case is not None and (
                (ran is not None and entry.case in ran) or (gone is not None and gone(entry.case))
            ):
                unused.append(key)
        return sorted(unused)

    # -- xdist ------------------------------------------------------------------------------------

    def export_session(self) -> dict[str, Any]:
        """This session's new entries and used keys as JSON-able data, for ``config.workeroutput``."""
        with self._lock:
            return {
                "new": [entry.to_json() for entry in self.new_entries],
                "used": sorted(self._used),
            }

    def merge(self, entries: Iterable[VerdictEntry | Mapping[str, Any]]) -> int:
        """Add entries judged elsewhere (an xdist worker, which appended them to the file already) as
        new entries; returns how many were added. An entry already present under the same key is
        replaced, never duplicated."""
        added = 0
        for item in entries:
            entry = item if isinstance(item, VerdictEntry) else VerdictEntry.from_json(dict(item))
            with self._lock:
                if entry.key not in self._new:
                    added += 1
                self._new[entry.key] = entry
                self._used.add(entry.key)
        return added

    def merge_session(self, payload: Mapping[str, Any]) -> int:
        """Merge what :meth:`export_session` produced on a worker (new entries and used keys)."""
        added = self.merge(payload.get("new") or [])
        with self._lock:
            self._used.update(str(key) for key in payload.get("used") or [])
        return added

    # -- writing ----------------------------------------------------------------------------------

    def write(self, path: Path | None = None, *, prune: Iterable[str] | bool | None = None) -> WriteResult:
        """Merge this session's verdicts into the file as it is on disk now, and write it sorted,
        atomically, under the folder lock (see the module docstring).

        ``prune`` names the keys to remove (``True``: every key :meth:`unused_keys` gives); pruning
        also removes unreadable lines. The file is not touched when its content would not change; an
        absent file is not created for zero entries.
        """
        target = path or self.path
        if target is None:
            raise VerdictCacheError("VerdictCache.write() needs a path: this cache was not loaded from a file.")
        pruning = prune is not None and prune is not False
        dropped = set(self.unused_keys() if prune is True else prune if pruning else ())  # type: ignore[arg-type]
        try:
            with folder_lock(target.parent):
                on_disk = _FileContent.read(target)
                with self._lock:
                    entries = {**on_disk.entries, **self._new}
                    added = sum(1 for key in self._new if key not in self._stored)
                pruned = tuple(sorted(key for key in dropped if key in entries))
                for key in pruned:
                    del entries[key]
                corrupt = [] if pruning else on_disk.corrupt
                text = render_entries(entries, corrupt)
                result = WriteResult(
                    path=target,
                    written=False,
                    entries=len(entries),
                    added=added,
                    pruned=pruned,
                    corrupt_kept=len(corrupt),
                    corrupt_dropped=len(on_disk.corrupt) - len(corrupt),
                )
                if text == on_disk.text and (target.exists() or not text):
                    return result
                write_atomic(target, text)
        except OSError as exc:
            raise VerdictCacheError(
                f"The verdict file {target} could not be written ({exc}); the old file is intact."
            ) from exc
        with self._lock:
            self._stored = entries
            self._new = {}
            self._corrupt = list(corrupt)
            self._original_text = text
        return replace(result, written=True)


def append_entries(path: Path, entries: Iterable[VerdictEntry]) -> None:
    """Append ``entries`` to the verdict file in one write, under the folder lock (a file that does not
    end with a line break gets one first)."""
    text = "".join(_line(entry) + "\n" for entry in entries)
    if not text:
        return
    with folder_lock(path.parent):
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(descriptor).st_size
            if size:
                with open(path, "rb") as handle:
                    handle.seek(size - 1)
                    if handle.read(1) != b"\n":
                        text = "\n" + text
            payload = text.encode("utf-8")
            while payload:
                payload = payload[os.write(descriptor, payload):]
        finally:
            os.close(descriptor)


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_verdict_files` did."""

    written: WriteResult
    added: int
    #: Keys two files judged differently (the later ``judged_at`` was kept), with the files.
    conflicts: tuple[tuple[str, str, str], ...]


def merge_verdict_files(target: Path, sources: Iterable[Path]) -> MergeResult:
    """Merge verdict files (CI shards' artifacts) into ``target``: every entry kept once; when two files
    hold different verdicts for one key, the one judged later wins and the conflict is reported.
    Lines that are not entries are reported as problems and left out."""
    merged = VerdictCache.load(target, warn=False, append=False)
    before = set(merged.entries())
    chosen: dict[str, tuple[VerdictEntry, str]] = {}
    conflicts: list[tuple[str, str, str]] = []
    for source in sources:
        content = _FileContent.read(source)
        if not content.text and not source.exists():
            raise VerdictCacheError(f"{source}: no such verdict file; give the files the shards wrote")
        merged.problems.extend(content.problems)
        for key, entry in content.entries.items():
            held = chosen.get(key)
            if held is None:
                existing = merged.get(key)
                held = (existing, str(target)) if existing is not None else None
            if held is not None and held[0] != entry:
                first, origin = held
                conflicts.append((key, origin, str(source)))
                if entry.judged_at < first.judged_at:
                    continue
            chosen[key] = (entry, str(source))
    merged.merge(entry for entry, _ in chosen.values())
    written = merged.write()
    return MergeResult(
        written=written,
        added=sum(1 for key in chosen if key not in before),
        conflicts=tuple(conflicts),
    )
