"""Pseudonym schemes by name: `siv` (AES-SIV, the default) and `ff1-13` (13-digit, legacy)."""

from __future__ import annotations

from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.keys import KeyProvider
from pseudonymizer.schemes.base import PseudonymScheme
from pseudonymizer.schemes.ff1_13 import Ff1LegacyScheme
from pseudonymizer.schemes.siv import SivScheme

__all__ = ["SCHEMES", "Ff1LegacyScheme", "PseudonymScheme", "SivScheme", "build_scheme"]

SCHEMES: dict[str, type[PseudonymScheme[object]]] = {
    SivScheme.name: SivScheme,  # type: ignore[dict-item]
    Ff1LegacyScheme.name: Ff1LegacyScheme,  # type: ignore[dict-item]
}


def build_scheme(name: str, keys: KeyProvider) -> PseudonymScheme[object]:
    cls = SCHEMES.get(name)
    if cls is None:
        known = ", ".join(f"`{n}`" for n in SCHEMES)
        raise PseudonymizerError(f"unknown pseudonym scheme `{name}` (known: {known})")
    return cls(keys)
