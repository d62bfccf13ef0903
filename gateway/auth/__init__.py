"""Authenticate step: who is calling, from the system-signed JWT in `Authorization: Bearer`."""

from __future__ import annotations

from gateway.auth.algorithms import ALLOWED_ALGORITHMS
from gateway.auth.authenticator import Authenticator, SystemKey, TokenNotYetValid
from gateway.auth.jti_store import JtiStore

__all__ = ["ALLOWED_ALGORITHMS", "Authenticator", "JtiStore", "SystemKey", "TokenNotYetValid"]
