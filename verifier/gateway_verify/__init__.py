"""Standalone verifier of access-log export archives (standard library and `cryptography` only)."""

from __future__ import annotations

FORMAT = "affiliate-gateway-log-export/2"

__all__ = ["FORMAT"]
