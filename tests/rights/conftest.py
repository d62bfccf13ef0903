"""A real gateway for the customer-rights tests (the API harness), and history helpers."""

from __future__ import annotations

from tests.api.conftest import gw  # noqa: F401
