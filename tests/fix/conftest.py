"""Fixtures for ``flywheel fix``: the shop project (built once, copied per test) and the scripted fixer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pytest_flywheel.testing import MessagesAPIServer

from .shop import build_repository, copy_repository


@pytest.fixture(scope="session")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The repository (project in ``shop/``) and a store holding its red run."""
    base = tmp_path_factory.mktemp("template")
    store = base / "flywheel.db"
    build_repository(base / "repo", store)
    return base / "repo", store


@pytest.fixture
def shop(shop_template: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the shop project, the working directory, with its red run in this test's store."""
    repo, store = shop_template
    project = copy_repository(repo, tmp_path / "repo")
    for suffix in ("", "-wal"):
        if Path(f"{store}{suffix}").is_file():
            shutil.copyfile(f"{store}{suffix}", f"{os.environ['FLYWHEEL_STORE']}{suffix}")
    monkeypatch.chdir(project)
    return project


@pytest.fixture
def fixer(messages_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> MessagesAPIServer:
    """The loopback Messages API the fixer's real SDK client talks to (script it with ``script_fixer``)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    return messages_api
