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

FORMAT_VERSION = 1
TOOL_INTERACTIONS_KEY = "tool_interactions"
HEADER_COMMENT = (
    "# pytest-flywheel case cassette (vcrpy format 1). Secrets were redacted before writing;\n"
    '# review it like code. tool_interactions: recorded @track(type="tool") calls.\n'
)


class CassetteFormatError(FlywheelError):
    """A cassette file that cannot be read as a cassette."""


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
    ordered = {key: data[key] for key in ("version", "interactions", TOOL_INTERACTIONS_KEY) if key in data}
    ordered.update({key: value for key, value in data.items() if key not in ordered})
    text = yaml.dump(ordered, Dumper=_CassetteDumper, allow_unicode=True, sort_keys=False, width=110)
    return HEADER_COMMENT + text


def _normalize_interaction(interaction: Any) -> Any:
    """Bring a foreign variant of an interaction into vcrpy's shape (in place)."""
    if not isinstance(interaction, dict):
        return interaction
    request, response = interaction.get("request"), interaction.get("response")
    if isinstance(request, dict):
        if "body" not in request and "parsed_body" in request:
            request["body"] = json.dumps(
                request.pop("parsed_body"), ensure_ascii=False, separators=(",", ":")
            )
        request.setdefault("body", None)
        request.setdefault("headers", {})
    if isinstance(response, dict):
        if "body" not in response and "parsed_body" in response:
            text = json.dumps(response.pop("parsed_body"), ensure_ascii=False, separators=(",", ":"))
            response["body"] = {"string": text}
        response.setdefault("headers", {})
        response.setdefault("body", {"string": ""})
    return interaction


def load_cassette_data(text: str, *, source: Path | str = "<cassette>") -> dict[str, Any]:
    """Parse cassette YAML as vcrpy's own (safe) loader does (faster: see ``cassette_yaml``), normalising
    foreign variants.

    Raises :class:`CassetteFormatError` naming ``source`` when the text is not a cassette.
    """
    from pytest_flywheel.replay.cassette_yaml import load_cassette_yaml

    try:
        data = load_cassette_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CassetteFormatError(
            f"{where}: not valid YAML ({problem}); fix the file or record it again."
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("interactions", []), list):
        raise CassetteFormatError(
            f"{source}: not a vcrpy cassette (expected a mapping with an 'interactions' list); "
            "fix the file or record it again."
        )
    data.setdefault("interactions", [])
    data["interactions"] = [_normalize_interaction(item) for item in data["interactions"]]
    tools = data.get(TOOL_INTERACTIONS_KEY) or []
    _check_tool_interactions(tools, source)
    data[TOOL_INTERACTIONS_KEY] = tools
    return data


def _check_tool_interactions(tools: Any, source: Path | str) -> None:
    if not isinstance(tools, list):
        raise CassetteFormatError(
            f"{source}: {TOOL_INTERACTIONS_KEY} must be a list, found {type(tools).__name__}."
        )
    for index, item in enumerate(tools):
        where = f"{source}: {TOOL_INTERACTIONS_KEY}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("tool"), str):
            raise CassetteFormatError(f"{where}: expected a mapping with a 'tool' name.")
        if not isinstance(item.get("arguments", {}), dict):
            raise CassetteFormatError(f"{where}: 'arguments' must be a mapping of parameter names to values.")
        if ("result" in item) == ("error" in item):
            raise CassetteFormatError(f"{where}: expected exactly one of 'result' or 'error'.")
        error = item.get("error")
        if "error" in item and not (isinstance(error, dict) and isinstance(error.get("type"), str)):
            raise CassetteFormatError(f"{where}: 'error' must be a mapping with 'type' and 'message'.")


# -- the vcrpy side ---------------------------------------------------------------------------------


class CassetteSerializer:
    """vcrpy serializer for one replay session's cassette.

    On load it hands the file's tool interactions to ``on_tools_loaded``; on save it asks
    ``tools_to_save`` for the tool interactions to write next to vcrpy's HTTP ones.
    """

    def __init__(
        self,
        *,
        source: Path,
        on_tools_loaded: Callable[[list[dict[str, Any]]], None],
        tools_to_save: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.source = source
        self._on_tools_loaded = on_tools_loaded
        self._tools_to_save = tools_to_save

    def deserialize(self, cassette_string: str) -> dict[str, Any]:
        data = load_cassette_data(cassette_string, source=self.source)
        self._on_tools_loaded(list(data.pop(TOOL_INTERACTIONS_KEY)))
        return data

    def serialize(self, cassette_dict: dict[str, Any]) -> str:
        data = dict(cassette_dict)
        tools = self._tools_to_save()
        if tools:
            data[TOOL_INTERACTIONS_KEY] = tools
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
    from vcr.persisters.filesystem import CassetteNotFoundError
    from vcr.serialize import deserialize

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CassetteFormatError(f"{path}: not UTF-8 text; fix the file or record it again.") from None
    if "\r" in text:  # as a file read in text mode sees it (universal newlines)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise CassetteNotFoundError()
    return deserialize(text, serializer)
