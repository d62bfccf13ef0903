"""RRN storage: AES-256-GCM ciphertext at rest plus an HMAC-SHA256 blind index for look-up.

개인정보 보호법 제24조의2 (주민등록번호 처리의 제한) 제2항 and 시행령 제21조의2 require
resident registration numbers to be stored encrypted; 「개인정보의 안전성 확보조치 기준」
제7조 asks for a safe algorithm (AES-256 here). The blind index lets the gateway find a row by
number without decrypting every row and without storing anything a dictionary attack could
reverse without the key (a plain hash of a 13-digit number with a known date is trivially
reversible).

Blob layout (all big-endian): format byte `0x01` | key version (4 bytes) | nonce (12 bytes) |
ciphertext with the 16-byte GCM tag. The associated data is the 5-byte header followed by the
row's customer key, so a ciphertext moved to another row, or relabelled with another key
version, does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pseudonymizer.errors import InvalidCiphertext, InvalidNationalId, UnknownKeyVersion
from pseudonymizer.keys import KeyProvider

__all__ = ["BLIND_INDEX_PURPOSE", "ENCRYPTION_PURPOSE", "RrnVault"]

BLIND_INDEX_PURPOSE = "rrn-blind-index"
ENCRYPTION_PURPOSE = "rrn-encryption"
_FORMAT = 1
_HEADER_BYTES = 5
# NIST SP 800-38D §8.2.2: a 96-bit random IV; §8.3 caps one key at 2^32 such encryptions,
# far above the number of customers a key version encrypts before it is rotated.
_NONCE_BYTES = 12
_TAG_BYTES = 16


class RrnVault:
    """Encrypts and blind-indexes canonical 13-digit numbers (`NationalId.digits`)."""

    def __init__(self, keys: KeyProvider, *, blind_index_version: int = 1) -> None:
        # The blind index is a UNIQUE column: it must not change when keys rotate, so it is
        # pinned to one key version. Re-keying it means recomputing the column (a migration).
        self._keys = keys
        self._index_key = keys.key(BLIND_INDEX_PURPOSE, blind_index_version)
        self._aead: dict[int, AESGCM] = {}
        self._lock = threading.Lock()

    def blind_index(self, digits: str) -> bytes:
        """HMAC-SHA256 (RFC 2104) of the digits: 32 bytes, deterministic, keyed."""
        _require_digits(digits)
        return hmac.new(self._index_key, digits.encode("ascii"), hashlib.sha256).digest()

    def encrypt(self, digits: str, customer_key: str) -> bytes:
        """AES-256-GCM under the current key version, bound to `customer_key`."""
        _require_digits(digits)
        version = self._keys.current_version(ENCRYPTION_PURPOSE)
        header = bytes([_FORMAT]) + version.to_bytes(4, "big")
        nonce = os.urandom(_NONCE_BYTES)
        plain = digits.encode("ascii")
        ciphertext = self._cipher(version).encrypt(nonce, plain, _ad(header, customer_key))
        return header + nonce + ciphertext

    def decrypt(self, blob: bytes, customer_key: str) -> str:
        """The digits inside `blob`, or `InvalidCiphertext` if it is not this row's."""
        if len(blob) < _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES:
            raise InvalidCiphertext("rrn ciphertext is too short")
        header, nonce = blob[:_HEADER_BYTES], blob[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
        if header[0] != _FORMAT:
            raise InvalidCiphertext(f"rrn ciphertext format `{header[0]}` is unknown")
        version = int.from_bytes(header[1:], "big")
        try:
            cipher = self._cipher(version)
        except UnknownKeyVersion as exc:
            raise InvalidCiphertext(f"rrn ciphertext key version `v{version}` is unknown") from exc
        try:
            sealed = blob[_HEADER_BYTES + _NONCE_BYTES :]
            plain = cipher.decrypt(nonce, sealed, _ad(header, customer_key))
        except InvalidTag:
            raise InvalidCiphertext(
                "rrn ciphertext does not authenticate for this customer key"
            ) from None
        return plain.decode("ascii")

    def _cipher(self, version: int) -> AESGCM:
        cipher = self._aead.get(version)
        if cipher is None:
            cipher = AESGCM(self._keys.key(ENCRYPTION_PURPOSE, version))
            with self._lock:
                self._aead[version] = cipher
        return cipher


def _ad(header: bytes, customer_key: str) -> bytes:
    return header + customer_key.encode("utf-8")


def _require_digits(digits: str) -> None:
    # Only the canonical form: indexing "900101-1…" and "9001011…" differently would split one
    # person into two rows.
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        raise InvalidNationalId("vault expects the 13 canonical digits (`NationalId.digits`)")
