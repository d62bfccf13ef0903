"""The `siv` scheme: AES-SIV (RFC 5297) of the customer key under a per-recipient key.

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

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pseudonymizer.errors import InvalidCustomerKey, InvalidPseudonym, UnknownKeyVersion
from pseudonymizer.schemes.base import PseudonymScheme, require_recipient
from pseudonymizer.schemes.siv_batch import SivBatch

__all__ = ["SivScheme"]

_CUSTOMER_KEY = re.compile(r"[0-9a-f]{32}")
_SIV_OUTPUT_BYTES = 32
_B32_CHARS = 52  # ceil(32 * 8 / 5)
# Version without leading zeros, so each pseudonym has exactly one spelling.
_PSEUDONYM = re.compile(rf"p([1-9][0-9]{{0,8}})_([a-z2-7]{{{_B32_CHARS}}})")
_BATCH_FROM = 16  # below this, numpy's fixed cost outweighs the batched AES calls
_B32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 §6, lowercase
_B32_ALPHABET = np.frombuffer(_B32.encode("ascii"), dtype=np.uint8)
# The standard library's base32 is pure Python (tens of µs per pseudonym on a busy core): one
# character pair per 10 bits to encode, and int(…, 32) over translated digits to decode.
_B32_PAIRS = [a + b for a in _B32 for b in _B32]
_B32_TO_INT_DIGITS = str.maketrans(_B32, "0123456789abcdefghijklmnopqrstuv")
_B32_WEIGHTS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class _Keys:
    siv: AESSIV  # one item at a time, and every decryption (it verifies the tag)
    batch: SivBatch  # many items at once, same output


class SivScheme(PseudonymScheme[_Keys]):
    name = "siv"
    key_purpose_prefix = "pseudonym"

    def issue_many(self, subjects: Sequence[str], recipient: str, version: int) -> list[str]:
        require_recipient(recipient)
        keys = self.cipher(recipient, version)
        prefix = f"p{version}_"
        if len(subjects) < _BATCH_FROM:
            ad = [recipient.encode("utf-8")]
            return [prefix + _b32(keys.siv.encrypt(_customer_key(k), ad)) for k in subjects]
        text = _b32_rows(keys.batch.encrypt(_customer_keys(subjects)))
        return [prefix + text[i:i + _B32_CHARS] for i in range(0, len(text), _B32_CHARS)]

    def version_of(self, pseudonym: str, recipient: str) -> int:
        return int(_parse(pseudonym).group(1))

    def open(self, pseudonym: str, recipient: str) -> str:
        require_recipient(recipient)
        match = _parse(pseudonym)
        version = int(match.group(1))
        # 52 base32 characters carry 260 bits: refuse non-zero spare bits, so no second
        # spelling of a valid pseudonym exists. (The regex has checked the alphabet.)
        value = int(match.group(2).translate(_B32_TO_INT_DIGITS), 32)
        if value & 0xF:
            raise InvalidPseudonym("pseudonym is malformed: non-canonical base32")
        sealed = (value >> 4).to_bytes(_SIV_OUTPUT_BYTES, "big")
        try:
            cipher = self.cipher(recipient, version).siv
        except UnknownKeyVersion:
            raise InvalidPseudonym(f"pseudonym key version `v{version}` is unknown") from None
        try:
            plain = cipher.decrypt(sealed, [recipient.encode("utf-8")])
        except InvalidTag:
            raise InvalidPseudonym(
                f"pseudonym does not authenticate for recipient `{recipient}`"
            ) from None
        return plain.hex()

    def _build(self, subkey: bytes, recipient: str) -> _Keys:
        # AESSIV takes two AES keys; expanding the 32-byte subkey to 64 bytes gives AES-256-SIV
        # (RFC 5297 §2.6: the key splits into an S2V half and a CTR half).
        hkdf = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"aes-256-siv")
        key = hkdf.derive(subkey)
        return _Keys(siv=AESSIV(key), batch=SivBatch(key, recipient.encode("utf-8")))


def _b32(sealed: bytes) -> str:
    """Base32 of 32 bytes, lowercase, unpadded: 52 characters, the 4 spare bits zero."""
    value = int.from_bytes(sealed, "big") << 4
    return "".join([_B32_PAIRS[(value >> shift) & 1023] for shift in range(250, -1, -10)])


def _b32_rows(rows: npt.NDArray[np.uint8]) -> str:
    """RFC 4648 §6 base32, lowercase, unpadded, of each 32-byte row, rows concatenated.

    Vectorized: the standard library's b32encode is pure Python (≈ 9 µs per pseudonym).
    52 characters carry 260 bits; the 4 spare bits are zero, as in the canonical spelling.
    """
    bits = np.unpackbits(rows, axis=1)  # (n, 256)
    bits = np.concatenate([bits, np.zeros((len(rows), 4), dtype=np.uint8)], axis=1)
    indices = bits.reshape(len(rows), _B32_CHARS, 5) @ _B32_WEIGHTS
    text: str = _B32_ALPHABET[indices].tobytes().decode("ascii")
    return text


def _customer_key(text: str) -> bytes:
    if _CUSTOMER_KEY.fullmatch(text) is None:
        raise InvalidCustomerKey("customer key must be 32 lowercase hex characters")
    return bytes.fromhex(text)


def _customer_keys(subjects: Sequence[str]) -> bytes:
    """All keys as one byte string; the same refusal as `_customer_key` for any bad one."""
    joined = "".join(subjects)
    try:
        # 32 characters each and 16 bytes each: no space or other filler (fromhex skips
        # whitespace), no uppercase (fromhex accepts it, the canonical form does not).
        raw = bytes.fromhex(joined)
        ok = (all(len(k) == 32 for k in subjects) and len(raw) * 2 == len(joined)
              and joined == joined.lower())
    except ValueError:
        ok = False
    if not ok:
        raise InvalidCustomerKey("customer key must be 32 lowercase hex characters")
    return raw


def _parse(pseudonym: str) -> re.Match[str]:
    match = _PSEUDONYM.fullmatch(pseudonym)
    if match is None:
        raise InvalidPseudonym("pseudonym is malformed: expected `p<version>_<base32>`")
    return match
