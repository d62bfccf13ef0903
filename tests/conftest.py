"""Shared fixtures: a real gateway on real SQLite files, real keys, real HTTP through ASGI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "policies"


def postgres_url() -> str | None:
    return os.environ.get("GATEWAY_TEST_POSTGRES_URL") or None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def policy_dir() -> Path:
    return POLICY_DIR


@pytest.fixture(autouse=True)
def _no_ambient_gateway_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests build their own settings; a developer's GATEWAY_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name, raising=False)
    yield
