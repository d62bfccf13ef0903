"""A real gateway for the customer-rights tests (the API harness), and a helper to read records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import BANK_ROW, CARD_ROW, Harness, build_settings, start_harness

__all__ = ["BANK_ROW", "CARD_ROW", "Harness", "logged"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    yield from start_harness(build_settings(tmp_path_factory.mktemp("rights"), policy_dir))


def logged(gw: Harness, index: int) -> dict[str, Any]:
    """The access record at `index`, as hashed into the log."""
    record: dict[str, Any] = json.loads(gw.services.access_log.record(index))
    return record
