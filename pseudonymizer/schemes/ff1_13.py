"""The `ff1-13` scheme: 13-digit pseudonyms for legacy customer-number columns (FF1, SP 800-38G).

Some affiliate systems can only store a 13-digit customer number (the width of an RRN column).
This scheme gives them a per-recipient, reversible, 13-digit pseudonym of a customer number.

Subject: a customer number, a decimal integer in [0, 10^9) written without leading zeros.
Construction, for recipient R and key version V:
1. x = the customer number as 12 decimal digits; its top three digits are always 0.
2. y = FF1-AES-256 (radix 10, n = 12, empty tweak) of x under the HKDF subkey
   `pseudonym-ff1:<R>` at version V. The domain, 10^12 twelve-digit strings, is exactly FF1's
   domain, so no cycle-walking is needed; 10^12 is above SP 800-38G Rev. 1's minimum of 10^6.
3. pseudonym = y[0:2] + marker + y[2:12], where marker = 2 + (V − 1) mod 8.

It is never a valid resident or foreigner registration number: digits 3-4 of an RRN are the
birth month (01-12), and the marker makes them 20-99 — no date in any century the 7th digit
could name, so `parse_national_id` refuses every pseudonym this scheme can produce (a
property test checks this), and neither a person nor a scanner can mistake one for an RRN.

Key version: the marker names it modulo 8; resolving takes the newest version not above the
current one with that residue. Pseudonyms more than seven rotations old are read under a newer
key: they have expired long before (grace period < seven rotations) and fail step 1's check.

Integrity: FPE has no tag. Resolving refuses a decryption whose top three digits are not 000,
so a forged or mistyped pseudonym resolves with probability 1/1000 per try, and then only to a
number the gateway must still find among the recipient's customers. That is far weaker than
`siv`'s 128-bit tag — the price of 13 digits; use `siv` wherever the column allows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from pseudonymizer.errors import InvalidCustomerKey, InvalidPseudonym, UnknownKeyVersion
from pseudonymizer.fpe.ff1 import FF1
from pseudonymizer.fpe.ff1_batch import ff1_decimal_batch
from pseudonymizer.schemes.base import PseudonymScheme, require_recipient

__all__ = ["CUSTOMER_NUMBER_LIMIT", "Ff1LegacyScheme"]

CUSTOMER_NUMBER_LIMIT = 10**9
_DIGITS = 12
_CUSTOMER_NUMBER = re.compile(r"0|[1-9][0-9]{0,8}")
_PSEUDONYM = re.compile(r"[0-9]{2}[2-9][0-9]{10}")
_MARKERS = 8
_BATCH_FROM = 16  # below this, numpy's fixed cost outweighs the vectorized rounds


def marker(version: int) -> int:
    return 2 + (version - 1) % _MARKERS


class Ff1LegacyScheme(PseudonymScheme[FF1]):
    name = "ff1-13"
    key_purpose_prefix = "pseudonym-ff1"

    def issue_many(self, subjects: Sequence[str], recipient: str, version: int) -> list[str]:
        require_recipient(recipient)
        for subject in subjects:
            if _CUSTOMER_NUMBER.fullmatch(subject) is None:
                raise InvalidCustomerKey("customer number must be 1-9 decimal digits without "
                                       "leading zeros")
        ff1 = self.cipher(recipient, version)
        m = str(marker(version))
        if len(subjects) < _BATCH_FROM:
            encrypted = [ff1.encrypt(f"{int(s):012d}") for s in subjects]
        else:
            numbers = np.fromiter((int(s) for s in subjects), dtype=np.uint64,
                                  count=len(subjects))
            batch = ff1_decimal_batch(ff1, numbers, _DIGITS)
            encrypted = [f"{y:012d}" for y in batch.tolist()]
        return [digits[:2] + m + digits[2:] for digits in encrypted]

    def version_of(self, pseudonym: str, recipient: str) -> int:
        if _PSEUDONYM.fullmatch(pseudonym) is None:
            raise InvalidPseudonym("pseudonym is malformed: expected 13 digits with a key "
                                   "marker 2-9 in the 3rd place")
        residue = int(pseudonym[2]) - 2
        current = self.current_version(recipient)
        version = current - ((current - 1 - residue) % _MARKERS)
        if version < 1:
            raise InvalidPseudonym(f"pseudonym key marker `{pseudonym[2]}` names no key version")
        return version

    def open(self, pseudonym: str, recipient: str) -> str:
        require_recipient(recipient)
        version = self.version_of(pseudonym, recipient)
        try:
            ff1 = self.cipher(recipient, version)
        except UnknownKeyVersion:
            raise InvalidPseudonym(f"pseudonym key version `v{version}` is unknown") from None
        plain = ff1.decrypt(pseudonym[:2] + pseudonym[3:])
        if not plain.startswith("000"):
            raise InvalidPseudonym(f"pseudonym was not issued to recipient `{recipient}`")
        return str(int(plain))

    def _build(self, subkey: bytes, recipient: str) -> FF1:
        return FF1(subkey, 10)
