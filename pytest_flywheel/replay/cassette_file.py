"""The cassette file: vcrpy's YAML format (version 1) plus the case's tool calls.

::

    version: 1
    interactions:            # vcrpy's HTTP interactions, unchanged in shape
    - request: {method, uri, body, headers}
      response: {status: {code, message}, headers, body: {string}}
    tool_interactions:       # pytest-flywheel's function-level interactions
    - tool: lookup_order
      arguments: {order_id: W123}
      result: {...}
    - tool: refund
      arguments: {order_id: W123}
      error: {type: myshop.errors.RefundDenied, message: "..."}
    recorded_run:            # what the agent's run took when it was recorded (or traced)
      latency_ms: 812.4

vcrpy's loader reads ``version``, ``interactions`` and ``metadata`` and ignores any other top-level
key, so the file replays under plain vcrpy too. vcrpy rewrites the whole file when it saves, keeping
only what it knows; :class:`CassetteSerializer` puts the tool interactions back into every save,
and :class:`AtomicPersister` writes through a temporary file and a rename, so a run killed halfway
never leaves half a cassette.

Cassettes written by other projects load too, including ``!!binary`` (base64) gzip bodies and
pydantic-ai's ``parsed_body`` variant (turned back into a JSON ``body``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.files import write_atomic
from pytest_flywheel.replay.cassette_checks import FIX, RECORDED_RUN_KEY, CassetteProblem, cassette_problems
from pytest_flywheel.replay.cassette_checks import TOOL_INTERACTIONS_KEY as TOOL_INTERACTIONS_KEY

FORMAT_VERSION = 1
MAX_PROBLEMS_SHOWN = 20
EMPTY_FIX = "delete it and record it again (--flywheel-record=once), or restore it from version control"
HEADER_COMMENT = (
    "# pytest-flywheel case cassette (vcrpy format 1). Secrets were redacted before writing;\n"
    '# review it like code. tool_interactions: recorded @track(type="tool") calls.\n'
)


class CassetteFormatError(FlywheelError):
    """A cassette file that cannot be read as a cassette: ``str()`` is ``path:line: what is wrong`` a line.

    ``path`` is the cassette, ``line`` the first fault's line, ``problems`` every fault found.
    """

    def __init__(self, path: Path | str, problems: list[CassetteProblem]) -> None:
        self.path = Path(path)
        self.problems = problems
        self.line = problems[0].line if problems else 1
        super().__init__(
            "\n".join(
                f"{path}:{problem.line}: {problem.field + ': ' if problem.field else ''}{problem.message}"
                for problem in problems
            )
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, for processes and pytest-xdist
        return (type(self), (self.path, self.problems))


# -- YAML -------------------------------------------------------------------------------------------


class _CassetteDumper(yaml.SafeDumper):
    """Readable YAML: multi-line text (event streams) as literal blocks, tuples as lists."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value and "\r" not in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


def _represent_tuple(dumper: yaml.SafeDumper, value: tuple[Any, ...]) -> yaml.Node:
    return dumper.represent_list(list(value))


_CassetteDumper.add_representer(str, _represent_str)
_CassetteDumper.add_representer(tuple, _represent_tuple)


def dump_cassette_data(data: dict[str, Any]) -> str:
    """``data`` (``version``, ``interactions``, ...) as cassette YAML text, with the header comment."""
    ordered = {
        key: data[key] for key in ("version", "interactions", TOOL_INTERACTIONS_KEY, RECORDED_RUN_KEY) if key in data
    }
    ordered.update({key: value for key, value in data.items() if key not in ordered})
    text = yaml.dump(ordered, Dumper=_CassetteDumper, allow_unicode=True, sort_keys=False, width=110)
    return HEADER_COMMENT + text


def _normalize_interaction(interaction: dict[str, Any]) -> dict[str, Any]:
    """Bring a foreign variant of a (checked) interaction into vcrpy's shape (in place)."""
    request, response = interaction["request"], interaction["response"]
    if "body" not in request and "parsed_body" in request:
        request["body"] = _json_text(request.pop("parsed_body"))
    request.pop("parsed_body", None)
    request.setdefault("body", None)
    request["headers"] = _header_lists(request.get("headers") or {})
    if "body" not in response and "parsed_body" in response:
        response["body"] = {"string": _json_text(response.pop("parsed_body"))}
    response.pop("parsed_body", None)
    response["headers"] = _header_lists(response.get("headers") or {})
    response.setdefault("body", {"string": ""})
    return interaction


def _json_text(value: Any) -> str:
    # (default=str: a YAML timestamp in a foreign cassette's parsed body is text again)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _header_lists(headers: dict[str, Any]) -> dict[str, Any]:
    """vcrpy's ``{name: [values]}``; a hand-written ``name: value`` becomes a list of one (vcrpy's httpx
    stub would otherwise send each character of the text as a header of its own)."""
    if all(isinstance(values, list) for values in headers.values()):
        return headers
    return {name: values if isinstance(values, list) else [values] for name, values in headers.items()}


def load_cassette_data(text: str, *, source: Path | str = "<cassette>") -> dict[str, Any]:
    """Parse cassette YAML as vcrpy's own (safe) loader does (see ``cassette_yaml``), check that vcrpy
    can replay it (see ``cassette_checks``) and normalise foreign variants.

    Raises :class:`CassetteFormatError` (``source:line: what is wrong``) when the text is not a cassette.
    """
    from pytest_flywheel.replay.cassette_yaml import read_cassette_yaml
    from pytest_flywheel.yaml_reader import YAMLReadError

    if not text.strip():
        raise CassetteFormatError(source, [CassetteProblem(1, "", f"the file is empty; {EMPTY_FIX}")])
    try:
        document = read_cassette_yaml(text, source=str(source))
    except YAMLReadError as exc:
        raise CassetteFormatError(
            source,
            [CassetteProblem(problem.line, problem.field or "", f"{problem.message}; {FIX}")
             for problem in exc.problems],
        ) from None
    data: Any = document.data
    if data is None:
        raise CassetteFormatError(
            source, [CassetteProblem(document.line_of(()), "", f"the file holds no data; {EMPTY_FIX}")]
        )
    problems = cassette_problems(data, document.line_of, limit=MAX_PROBLEMS_SHOWN)
    if problems:
        raise CassetteFormatError(source, problems)
    data.setdefault("interactions", [])
    data["interactions"] = [_normalize_interaction(item) for item in data["interactions"]]
    data[TOOL_INTERACTIONS_KEY] = data.get(TOOL_INTERACTIONS_KEY) or []
    checked: dict[str, Any] = data
    return checked


# -- the vcrpy side ---------------------------------------------------------------------------------


class CassetteSerializer:
    """vcrpy serializer for one replay session's cassette.

    On load it hands the file's tool interactions to ``on_tools_loaded`` and its recorded run
    (``{latency_ms}``, or None) to ``on_run_loaded``; on save it asks ``tools_to_save`` for the tool
    interactions to write next to vcrpy's HTTP ones, and ``run_to_save`` for the recorded run.
    """

    def __init__(
        self,
        *,
        source: Path,
        on_tools_loaded: Callable[[list[dict[str, Any]]], None],
        tools_to_save: Callable[[], list[dict[str, Any]]],
        on_run_loaded: Callable[[dict[str, Any] | None], None] | None = None,
        run_to_save: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.source = source
        self._on_tools_loaded = on_tools_loaded
        self._tools_to_save = tools_to_save
        self._on_run_loaded = on_run_loaded
        self._run_to_save = run_to_save

    def deserialize(self, cassette_string: str) -> dict[str, Any]:
        data = load_cassette_data(cassette_string, source=self.source)
        self._on_tools_loaded(list(data.pop(TOOL_INTERACTIONS_KEY)))
        run = data.pop(RECORDED_RUN_KEY, None)
        if self._on_run_loaded is not None:
            self._on_run_loaded(run)
        return data

    def serialize(self, cassette_dict: dict[str, Any]) -> str:
        data = dict(cassette_dict)
        tools = self._tools_to_save()
        if tools:
            data[TOOL_INTERACTIONS_KEY] = tools
        run = self._run_to_save() if self._run_to_save is not None else None
        if run:
            data[RECORDED_RUN_KEY] = run
        return dump_cassette_data(data)


class AtomicPersister:
    """vcrpy persister: loads like vcrpy's filesystem persister, writes atomically.

    It loads ``data``, the file's bytes as the replay session read them when it opened (None: no
    file), so that a cassette is read from disk once per session.
    """

    def __init__(self, data: bytes | None = None) -> None:
        self._data = data

    def load_cassette(self, cassette_path: str | os.PathLike[str], serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteNotFoundError

        if self._data is None:
            raise CassetteNotFoundError()
        return _deserialize_file_bytes(Path(cassette_path), self._data, serializer)

    @staticmethod
    def save_cassette(
        cassette_path: str | os.PathLike[str], cassette_dict: dict[str, Any], serializer: Any
    ) -> None:
        from vcr.serialize import serialize

        write_atomic(Path(cassette_path), serialize(cassette_dict, serializer))


def read_cassette_bytes(path: Path) -> bytes | None:
    """The bytes of the cassette file at ``path``, or None when there is no such file."""
    return path.read_bytes() if path.is_file() else None


def _deserialize_file_bytes(path: Path, data: bytes, serializer: Any) -> Any:
    from vcr.serialize import deserialize

    try:
        text = data.decode("utf-8-sig")  # an editor may have added a BOM
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CassetteFormatError(
            path, [CassetteProblem(line, "", f"not UTF-8 text (byte {exc.start}); {FIX}")]
        ) from None
    if "\r" in text:  # as a file read in text mode sees it (universal newlines)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return deserialize(text, serializer)
