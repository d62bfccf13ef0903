"""Per-recipient pseudonyms: issue, resolve within a rotation grace period, map old to new.

The construction lives in a scheme (`pseudonymizer/schemes/`): `siv` (AES-SIV of the customer
key, the default) or `ff1-13` (13 digits for legacy columns). This module adds what does not
depend on the scheme: key versions and their grace period after a rotation.

Rotation with grace: a pseudonym names its key version. When version V+1 is created, the
pseudonyms of version V (and older) keep resolving for `grace` after V+1's creation time (from
the key provider); then they are refused with `ExpiredPseudonym`. Within the grace period a
recipient can have its old pseudonyms mapped to the current ones (`remap`), so that it can
re-key its own records once per rotation instead of losing its history (개인정보 보호법
제28조의4: pseudonymization keys are managed, and rotated, separately from the data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NewType

from pseudonymizer.errors import (
    ExpiredPseudonym,
    InvalidPseudonym,
    UnknownKeyVersion,
)
from pseudonymizer.keys import KeyProvider
from pseudonymizer.schemes import PseudonymScheme, build_scheme
from pseudonymizer.schemes.base import require_recipient

__all__ = [
    "DEFAULT_GRACE",
    "ExpiredPseudonym",
    "InvalidPseudonym",
    "Mapped",
    "Pseudonym",
    "Pseudonymizer",
    "pseudonym_purpose",
]

Pseudonym = NewType("Pseudonym", str)

DEFAULT_GRACE = timedelta(days=90)


def pseudonym_purpose(recipient: str) -> str:
    """The key purpose of the default (`siv`) scheme for `recipient`."""
    return f"pseudonym:{recipient}"


@dataclass(frozen=True, slots=True)
class Mapped:
    """One entry of an old → new mapping: `new` is None when `old` did not resolve."""

    old: str
    new: Pseudonym | None
    error: str | None  # "expired" or "invalid" (never the reason's text: it may name values)


class Pseudonymizer:
    """Issues and resolves pseudonyms of one scheme; thread-safe, ciphers cached per version."""

    def __init__(self, keys: KeyProvider, *, scheme: str = "siv",
                 grace: timedelta = DEFAULT_GRACE) -> None:
        if grace < timedelta(0):
            raise ValueError("grace period must not be negative")
        self._keys = keys
        self.scheme: PseudonymScheme[object] = build_scheme(scheme, keys)
        self.grace = grace

    def pseudonym(self, subject: str, recipient: str, *,
                  version: int | None = None) -> Pseudonym:
        """The stable pseudonym of `subject` for `recipient` (current key version by default)."""
        return self.pseudonyms([subject], recipient, version=version)[0]

    def pseudonyms(self, subjects: Sequence[str], recipient: str, *,
                   version: int | None = None) -> list[Pseudonym]:
        """Batch form of `pseudonym`: one key look-up and one cipher for the whole batch."""
        require_recipient(recipient)
        v = self.scheme.current_version(recipient) if version is None else version
        return [Pseudonym(p) for p in self.scheme.issue_many(subjects, recipient, v)]

    def resolve(self, pseudonym: str, recipient: str, *, now: datetime | None = None) -> str:
        """The subject behind `pseudonym`, if this gateway issued it to `recipient` and its key
        version is current or still within its grace period at `now` (default: the clock)."""
        require_recipient(recipient)
        version = self.scheme.version_of(pseudonym, recipient)
        self._check_not_expired(version, recipient, now)
        return self.scheme.open(pseudonym, recipient)

    def remap(self, pseudonyms: Sequence[str], recipient: str, *,
              now: datetime | None = None,
              keep: Callable[[str], bool] | None = None) -> list[Mapped]:
        """Each old pseudonym with the current one of the same subject, in order.

        A pseudonym that does not resolve (forged, another recipient's, expired) maps to None
        with a one-word reason, so one bad entry does not fail a recipient's whole batch.
        `keep(subject)` False (e.g. the recipient no longer holds the customer) counts as
        `invalid` too: the answer does not tell it apart from a forged pseudonym.
        """
        current = self.scheme.current_version(recipient)
        out: list[Mapped] = []
        for old in pseudonyms:
            try:
                subject = self.resolve(old, recipient, now=now)
            except ExpiredPseudonym:
                out.append(Mapped(old, None, "expired"))
                continue
            except InvalidPseudonym:
                out.append(Mapped(old, None, "invalid"))
                continue
            if keep is not None and not keep(subject):
                out.append(Mapped(old, None, "invalid"))
                continue
            out.append(Mapped(old, self.pseudonym(subject, recipient, version=current), None))
        return out

    def expires_at(self, version: int, recipient: str) -> datetime | None:
        """When pseudonyms of `version` stop resolving; None while `version` is current."""
        purpose = self.scheme.key_purpose(recipient)
        if version >= self._keys.current_version(purpose):
            return None
        try:
            superseded = self._keys.created_at(purpose, version + 1)
        except UnknownKeyVersion:
            # A gap in the versions cannot be reasoned about: treat the pseudonym as expired.
            return datetime.min.replace(tzinfo=UTC)
        return superseded + self.grace

    def _check_not_expired(self, version: int, recipient: str, now: datetime | None) -> None:
        expiry = self.expires_at(version, recipient)
        if expiry is None:
            return
        moment = now if now is not None else datetime.now(UTC)
        if moment >= expiry:
            raise ExpiredPseudonym(
                f"expired pseudonym version `v{version}`: superseded keys resolve for "
                f"{self.grace.days} days after rotation; ask for a current pseudonym"
            )
