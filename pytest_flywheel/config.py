"""Settings: ``[tool.flywheel]`` in pyproject.toml, overridden by ``FLYWHEEL_*`` environment variables.

Precedence, highest first: an explicit argument, the environment variable, the pyproject key, the default.

=====================  ==========================  ===========================================
pyproject key          environment variable        meaning (default)
=====================  ==========================  ===========================================
``store``              ``FLYWHEEL_STORE``          SQLite trace store (``.flywheel/flywheel.db``)
``tracing``            ``FLYWHEEL_TRACING``        ``on`` / ``off`` (``on``)
``trace_tests``        ``FLYWHEEL_TRACE_TESTS``    store spans made inside a pytest session (``off``)
``dir``                ``FLYWHEEL_DIR``            the committed corpus folder (``flywheel``)
``project``            ``FLYWHEEL_PROJECT``        default project name for traces (``default``)
``judge_model``        ``FLYWHEEL_JUDGE_MODEL``    the judge's Anthropic model
``judge_workers``      ``FLYWHEEL_JUDGE_WORKERS``  judge calls in flight at once (8; read by the judge)
``analyst_model``      ``FLYWHEEL_ANALYST_MODEL``  ``flywheel analyze``'s model (the judge model)
``redact``             (none)                      extra regexes whose matches are scrubbed
``prices``             (none)                      per-model USD prices per million tokens
``queue_size``         ``FLYWHEEL_QUEUE_SIZE``     tracing queue bound, in spans (10000)
``max_payload_bytes``  ``FLYWHEEL_MAX_PAYLOAD``    per-field size limit before truncation (1 MiB)
``exit_flush_seconds`` ``FLYWHEEL_EXIT_FLUSH``     how long exit waits for queued spans (2 s)
``export``             ``FLYWHEEL_EXPORT``         ``otlp``: spans also go out over OTLP (``none``)
=====================  ==========================  ===========================================

Relative paths are resolved against the project root: the nearest folder, from the working directory
upwards, holding a ``pyproject.toml`` (the working directory itself when there is none).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flywheel.errors import FlywheelError

DEFAULT_JUDGE_MODEL = "claude-sonnet-5-5"


class ConfigError(FlywheelError, ValueError):
    """A ``[tool.flywheel]`` value or a ``FLYWHEEL_*`` variable that cannot be used."""


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one project root."""

    root: Path
    store: Path
    tracing: bool = True
    #: Whether spans made inside a pytest session (a unit test calling a traced function) go to the
    #: store. Off by default, so that test runs never mix with production traces.
    trace_tests: bool = False
    dir: Path = Path("flywheel")
    project: str = "default"
    judge_model: str = DEFAULT_JUDGE_MODEL
    redact: tuple[str, ...] = ()
    prices: dict[str, ModelPrice] = field(default_factory=dict)
    queue_size: int = 10_000
    max_payload_bytes: int = 1_048_576
    exit_flush_seconds: float = 2.0
    export: str = "none"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def suites_dir(self) -> Path:
        return self.dir / "suites"

    @property
    def cassettes_dir(self) -> Path:
        return self.dir / "cassettes"

    @property
    def verdicts_path(self) -> Path:
        return self.dir / "verdicts.jsonl"


def find_root(start: Path | None = None) -> Path:
    """The nearest folder from ``start`` (default: the working directory) upwards with a pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


def read_pyproject_section(root: Path) -> dict[str, Any]:
    """``[tool.flywheel]`` of ``root/pyproject.toml``, or ``{}``."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    section = data.get("tool", {}).get("flywheel", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.flywheel] must be a table, found {type(section).__name__}")
    return section


def _flag(value: str | bool, *, name: str) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in {"1", "on", "true", "yes"}:
        return True
    if lowered in {"0", "off", "false", "no"}:
        return False
    raise ConfigError(f"{name}={value!r}: expected on or off")


def _int(value: Any, *, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r}: expected a whole number") from None
    if number <= 0:
        raise ConfigError(f"{name}={value!r}: expected a number above 0")
    return number


def _seconds(value: Any, *, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r}: expected a number of seconds") from None
    if not 0 <= number <= 3600:  # (NaN is neither)
        raise ConfigError(f"{name}={value!r}: expected a number of seconds from 0 to 3600")
    return number


def model_name(value: Any, *, source: str) -> str:
    """``value`` as a model name; :class:`ConfigError` naming ``source`` when it is no usable text.

    A name pasted from a terminal in another encoding, or holding a control character, would otherwise
    fail much later: in every verdict key, or as the API's rejection of every judge call.
    """
    text = str(value).strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"{source} = {text!r} is not UTF-8 text: retype it, or check the terminal's encoding"
        ) from None
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in text):
        raise ConfigError(f"{source} = {text!r} holds a control character: a model name is plain text")
    return text


def _prices(raw: Any, *, root: Path) -> dict[str, ModelPrice]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{root / 'pyproject.toml'}: [tool.flywheel.prices] must be a table of models")
    prices: dict[str, ModelPrice] = {}
    for model, entry in raw.items():
        if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
            raise ConfigError(
                f"{root / 'pyproject.toml'}: [tool.flywheel.prices.{model}] needs input and output "
                "(USD per million tokens)"
            )
        prices[model] = ModelPrice(
            input=float(entry["input"]),
            output=float(entry["output"]),
            cache_read=float(entry.get("cache_read", 0.0)),
            cache_write=float(entry.get("cache_write", 0.0)),
        )
    return prices


EXPORTS = ("none", "otlp")


def _export(value: Any) -> str:
    text = str(value).strip().lower()
    text = "none" if text in ("", "off", "false", "0") else text
    if text not in EXPORTS:
        raise ConfigError(f"export={value!r}: expected otlp or none (FLYWHEEL_EXPORT / [tool.flywheel] export)")
    return text


def load_settings(root: Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Resolve the settings for ``root`` (default: :func:`find_root`)."""
    env = os.environ if environ is None else environ
    base = (root or find_root()).resolve()
    section = read_pyproject_section(base)

    def path_of(key: str, env_name: str, default: str) -> Path:
        value = env.get(env_name) or section.get(key) or default
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else base / path

    redact = section.get("redact", [])
    if isinstance(redact, str):
        redact = [redact]
    if not isinstance(redact, list) or not all(isinstance(item, str) for item in redact):
        raise ConfigError(f"{base / 'pyproject.toml'}: [tool.flywheel] redact must be a list of regexes")

    return Settings(
        root=base,
        store=path_of("store", "FLYWHEEL_STORE", ".flywheel/flywheel.db"),
        tracing=_flag(env.get("FLYWHEEL_TRACING", section.get("tracing", True)), name="FLYWHEEL_TRACING"),
        trace_tests=_flag(
            env.get("FLYWHEEL_TRACE_TESTS", section.get("trace_tests", False)), name="FLYWHEEL_TRACE_TESTS"
        ),
        dir=path_of("dir", "FLYWHEEL_DIR", "flywheel"),
        project=str(env.get("FLYWHEEL_PROJECT") or section.get("project") or "default"),
        judge_model=model_name(
            env.get("FLYWHEEL_JUDGE_MODEL") or section.get("judge_model") or DEFAULT_JUDGE_MODEL,
            source="FLYWHEEL_JUDGE_MODEL" if env.get("FLYWHEEL_JUDGE_MODEL") else "[tool.flywheel] judge_model",
        ),
        redact=tuple(redact),
        prices=_prices(section.get("prices", {}), root=base),
        queue_size=_int(env.get("FLYWHEEL_QUEUE_SIZE", section.get("queue_size", 10_000)), name="queue_size"),
        max_payload_bytes=_int(
            env.get("FLYWHEEL_MAX_PAYLOAD", section.get("max_payload_bytes", 1_048_576)),
            name="max_payload_bytes",
        ),
        exit_flush_seconds=_seconds(
            env.get("FLYWHEEL_EXIT_FLUSH", section.get("exit_flush_seconds", 2.0)), name="exit_flush_seconds"
        ),
        export=_export(env.get("FLYWHEEL_EXPORT", section.get("export", "none"))),
        raw=dict(section),
    )
