"""Per-recipient pseudonyms of customer keys: AES-SIV (RFC 5297) under a per-recipient key.

Why this construction (개인정보 보호법 제2조 제1호의2, 가명처리):
- deterministic (SIV is a deterministic AEAD) → a recipient sees the same pseudonym for the
  same customer on every call, so it can keep its own records;
- per-recipient key (HKDF purpose `pseudonym:<recipient>`) and the recipient id as associated
  data → two affiliates hold unrelated pseudonyms of one customer and cannot join their
  results without the gateway;
- authenticated → a forged, altered, or another recipient's pseudonym is refused, and only
  the gateway, which holds the key, can turn a pseudonym back into the customer key. No
  look-up table is needed.

Text form: `p<key version>_` + base32 (RFC 4648 §6), lowercase, no padding, of the 32-byte SIV
output (16-byte synthetic IV + 16-byte ciphertext): 55 characters for version 1. Base32
because it survives case-folding, URLs, file names and spreadsheets unharmed; lowercase and
unpadded so that every pseudonym has exactly one spelling and compares as a plain string.
"""

from __future__ import annotations

import base64
import re
import threading
from typing import NewType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pseudonymizer.errors import InvalidCustomerKey, InvalidPseudonym, UnknownKeyVersion
from pseudonymizer.keys import KeyProvider

__all__ = ["InvalidPseudonym", "Pseudonym", "Pseudonymizer", "pseudonym_purpose"]

Pseudonym = NewType("Pseudonym", str)

_CUSTOMER_KEY = re.compile(r"[0-9a-f]{32}")
_SIV_OUTPUT_BYTES = 32
_B32_CHARS = 52  # ceil(32 * 8 / 5)
# Version without leading zeros, so each pseudonym has exactly one spelling.
_PSEUDONYM = re.compile(r"p([1-9][0-9]{0,8})_([a-z2-7]{%d})" % _B32_CHARS)
_CACHE_LIMIT = 1024  # recipients × key versions; affiliates are few, this only bounds misuse


def pseudonym_purpose(recipient: str) -> str:
    return f"pseudonym:{recipient}"


class Pseudonymizer:
    """Issues and resolves pseudonyms; thread-safe, with one cached cipher per recipient/version."""

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys
        self._ciphers: dict[tuple[str, int], AESSIV] = {}
        self._lock = threading.Lock()

    def pseudonym(
        self, customer_key: str, recipient: str, *, version: int | None = None
    ) -> Pseudonym:
        """The stable pseudonym of `customer_key` for `recipient` (current key version by default).

        After a key rotation new pseudonyms use the new version; old ones keep resolving.
        """
        if _CUSTOMER_KEY.fullmatch(customer_key) is None:
            raise InvalidCustomerKey("customer key must be 32 lowercase hex characters")
        _require_recipient(recipient)
        v = self._keys.current_version(pseudonym_purpose(recipient)) if version is None else version
        sealed = self._cipher(recipient, v).encrypt(
            bytes.fromhex(customer_key), [recipient.encode("utf-8")]
        )
        text = base64.b32encode(sealed).decode("ascii").rstrip("=").lower()
        return Pseudonym(f"p{v}_{text}")

    def resolve(self, pseudonym: str, recipient: str) -> str:
        """The customer key behind `pseudonym`, if it was issued to `recipient` by this gateway."""
        _require_recipient(recipient)
        match = _PSEUDONYM.fullmatch(pseudonym)
        if match is None:
            raise InvalidPseudonym("pseudonym is malformed: expected `p<version>_<base32>`")
        version = int(match.group(1))
        sealed = base64.b32decode(match.group(2).upper() + "====")
        # 52 base32 characters carry 260 bits: refuse non-zero spare bits, so no second
        # spelling of a valid pseudonym exists.
        if base64.b32encode(sealed).decode("ascii").rstrip("=").lower() != match.group(2):
            raise InvalidPseudonym("pseudonym is malformed: non-canonical base32")
        try:
            cipher = self._cipher(recipient, version)
        except UnknownKeyVersion:
            raise InvalidPseudonym(f"pseudonym key version `v{version}` is unknown") from None
        try:
            plain = cipher.decrypt(sealed, [recipient.encode("utf-8")])
        except InvalidTag:
            raise InvalidPseudonym(
                f"pseudonym does not authenticate for recipient `{recipient}`"
            ) from None
        return plain.hex()

    def _cipher(self, recipient: str, version: int) -> AESSIV:
        cached = self._ciphers.get((recipient, version))
        if cached is not None:
            return cached
        subkey = self._keys.key(pseudonym_purpose(recipient), version)
        # AESSIV takes two AES keys; expanding the 32-byte subkey to 64 bytes gives AES-256-SIV
        # (RFC 5297 §2.6: the key splits into an S2V half and a CTR half).
        hkdf = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"aes-256-siv")
        cipher = AESSIV(hkdf.derive(subkey))
        with self._lock:
            if len(self._ciphers) >= _CACHE_LIMIT:
                self._ciphers.clear()
            self._ciphers[(recipient, version)] = cipher
        return cipher


def _require_recipient(recipient: str) -> None:
    if not recipient or "\x00" in recipient:
        raise InvalidPseudonym("recipient must be a non-empty id without nul characters")
