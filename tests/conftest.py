"""Shared fixtures: a real gateway on real SQLite files, real keys, real HTTP through ASGI."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, make_url

# Hypothesis: `ci` (the default) is reproducible and bounded — the same examples on every run,
# no deadline on a shared runner; tests that set `max_examples` keep their own count. Fuzz
# longer locally with `pytest --hypothesis-profile=long tests/…/test_*_fuzz.py` (or
# HYPOTHESIS_PROFILE=long): random examples, fifty times the fuzz tests' count.
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("long", deadline=None, max_examples=5_000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "policies"


def postgres_url() -> str | None:
    return os.environ.get("GATEWAY_TEST_POSTGRES_URL") or None


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """URL of a fresh schema on the test server (its search path), dropped afterwards.

    Skips the test when `GATEWAY_TEST_POSTGRES_URL` is unset. Each test gets a schema of
    its own, so parallel runs and earlier failures never share tables.
    """
    base = postgres_url()
    if base is None:
        pytest.skip("GATEWAY_TEST_POSTGRES_URL is not set")
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def policy_dir() -> Path:
    return POLICY_DIR


def writable_policies(policy_dir: Path, tmp: Path) -> Path:
    """A copy of `policy_dir` in `tmp/policies` (its `tests` folder left out), for tests that
    change the policy files (reloads, proposals, approvals)."""
    copy = tmp / "policies"
    shutil.copytree(policy_dir, copy, ignore=shutil.ignore_patterns("tests"))
    return copy


@pytest.fixture(autouse=True)
def _no_ambient_gateway_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests build their own settings; a developer's GATEWAY_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name, raising=False)
    yield
