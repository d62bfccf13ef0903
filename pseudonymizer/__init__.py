"""National ids, keys, the RRN vault and per-recipient pseudonyms; never imports `gateway`."""

from __future__ import annotations

from pseudonymizer.errors import (
    ExpiredPseudonym,
    InvalidCiphertext,
    InvalidCustomerKey,
    InvalidNationalId,
    InvalidPseudonym,
    KeyLoadError,
    PseudonymizerError,
    UnknownKeyVersion,
)
from pseudonymizer.keys import FileKeyProvider, KeyProvider, StaticKeyProvider
from pseudonymizer.pseudonyms import Mapped, Pseudonym, Pseudonymizer
from pseudonymizer.rrn import (
    Confidence,
    IdForm,
    NationalId,
    Sex,
    generate_rrn,
    is_valid_rrn_like,
    parse_national_id,
)
from pseudonymizer.vault import RrnVault

__all__ = [
    "Confidence",
    "ExpiredPseudonym",
    "FileKeyProvider",
    "IdForm",
    "InvalidCiphertext",
    "InvalidCustomerKey",
    "InvalidNationalId",
    "InvalidPseudonym",
    "KeyLoadError",
    "KeyProvider",
    "Mapped",
    "NationalId",
    "Pseudonym",
    "Pseudonymizer",
    "PseudonymizerError",
    "RrnVault",
    "Sex",
    "StaticKeyProvider",
    "UnknownKeyVersion",
    "generate_rrn",
    "is_valid_rrn_like",
    "parse_national_id",
]
