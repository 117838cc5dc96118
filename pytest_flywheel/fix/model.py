"""Which model the fixer talks to: Claude with a key, else the project's configured offline stand-in.

With ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) set, the fixer uses the official SDK as is
(``ANTHROPIC_BASE_URL`` may point at a compatible endpoint). Without one, a project may name a
stand-in in ``pyproject.toml``, as the example project does::

    [tool.flywheel.fix]
    standin = "support_agent.standin_fixer:start_server"  # returns a started server: .base_url, .stop()
    standin_pytest_args = ["--standin"]                    # added to the validation's pytest runs

The stand-in is announced in one line, and its replies carry its own model name: it is never
presented as Claude. With neither a key nor a stand-in, :func:`choose_model` says so in one line.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.config import Settings
from pytest_flywheel.fix.errors import FixError

REQUEST_TIMEOUT_SECONDS = 300.0
#: Sent as the key to a stand-in, which ignores it; never a real key.
STANDIN_KEY = "flywheel-standin-no-key"


@dataclass
class FixerModel:
    """The client the fixer uses, and what to tell the user about it."""

    client: Any
    model: str
    #: One line about a stand-in, or None when it is the real API.
    note: str | None = None
    #: Extra pytest arguments for the validation runs (the stand-in's).
    validation_arguments: list[str] = field(default_factory=list)
    standin: Any = None

    def close(self) -> None:
        if self.standin is not None:
            self.standin.stop()
            self.standin = None


def fix_settings(settings: Settings) -> dict[str, Any]:
    """``[tool.flywheel.fix]`` (empty when absent); a value that is not a table is an error."""
    section = settings.raw.get("fix", {})
    if not isinstance(section, dict):
        raise FixError(f"{settings.root / 'pyproject.toml'}: [tool.flywheel] fix must be a table.")
    return section


def model_name(settings: Settings, explicit: str | None, environ: Mapping[str, str]) -> str:
    """--model, then ``FLYWHEEL_FIXER_MODEL``, then ``[tool.flywheel.fix] model``, then the judge's model."""
    return str(
        explicit
        or environ.get("FLYWHEEL_FIXER_MODEL")
        or fix_settings(settings).get("model")
        or settings.judge_model
    )


def choose_model(
    settings: Settings, *, model: str | None = None, environ: Mapping[str, str] | None = None
) -> FixerModel:
    """The fixer's client (see the module docstring); :class:`FixError` when there is no model to use."""
    env = os.environ if environ is None else environ
    name = model_name(settings, model, env)
    import anthropic

    if env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN"):
        client = anthropic.Anthropic(max_retries=1, timeout=REQUEST_TIMEOUT_SECONDS)
        return FixerModel(client=client, model=name)
    section = fix_settings(settings)
    factory_name = section.get("standin")
    if not factory_name:
        raise FixError(
            "flywheel fix needs a model, and no ANTHROPIC_API_KEY is set: set it (the fixer and the "
            "re-recording of changed cases call Claude), or name an offline stand-in as [tool.flywheel.fix] "
            "standin in pyproject.toml."
        )
    arguments = section.get("standin_pytest_args", [])
    if not isinstance(arguments, list) or not all(isinstance(item, str) for item in arguments):
        raise FixError(
            f"{settings.root / 'pyproject.toml'}: [tool.flywheel.fix] standin_pytest_args must be a list of strings."
        )
    server = _start_standin(str(factory_name), settings)
    base_url = str(server.base_url)
    client = anthropic.Anthropic(
        api_key=STANDIN_KEY, base_url=base_url, max_retries=0, timeout=REQUEST_TIMEOUT_SECONDS
    )
    shown_args = f" with {' '.join(arguments)}" if arguments else ""
    note = (
        f"No ANTHROPIC_API_KEY: the fixer talks to this project's offline STAND-IN ({factory_name} at "
        f"{base_url}), not to Claude; the validation runs pytest{shown_args}."
    )
    return FixerModel(client, name, note, list(arguments), server)


def _start_standin(factory_name: str, settings: Settings) -> Any:
    module_name, sep, attribute = factory_name.partition(":")
    where = f"{settings.root / 'pyproject.toml'}: [tool.flywheel.fix] standin = {factory_name!r}"
    if not sep or not module_name or not attribute:
        raise FixError(f"{where} is not of the form 'module:function'.")
    root = str(settings.root)
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    # Importing the project's module must not leave __pycache__ folders in its tree.
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
        server = factory()
    except Exception as exc:
        raise FixError(f"{where} could not be started: {type(exc).__name__}: {exc}.") from exc
    finally:
        sys.dont_write_bytecode = writes_bytecode
        if added and root in sys.path:
            sys.path.remove(root)
    if not hasattr(server, "base_url") or not callable(getattr(server, "stop", None)):
        raise FixError(
            f"{where} returned {type(server).__name__}, not a started server with base_url and stop()."
        )
    return server
