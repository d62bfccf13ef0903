"""What every pseudonym scheme does: issue and open per-recipient pseudonyms under a key version."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from pseudonymizer.errors import InvalidPseudonym
from pseudonymizer.keys import KeyProvider

__all__ = ["PseudonymScheme", "require_recipient"]

C = TypeVar("C")
_CACHE_LIMIT = 1024  # recipients × key versions; affiliates are few, this only bounds misuse


class PseudonymScheme(ABC, Generic[C]):
    """A keyed, deterministic, reversible map subject → pseudonym, one key per recipient.

    `C` is the scheme's prepared cipher for one (recipient, version): built once from the
    key provider and cached, so issuing a pseudonym never derives a key.
    """

    name: ClassVar[str]
    key_purpose_prefix: ClassVar[str]

    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys
        self._ciphers: dict[tuple[str, int], C] = {}
        self._lock = threading.Lock()

    def key_purpose(self, recipient: str) -> str:
        return f"{self.key_purpose_prefix}:{recipient}"

    def current_version(self, recipient: str) -> int:
        return self.keys.current_version(self.key_purpose(recipient))

    @abstractmethod
    def issue_many(self, subjects: Sequence[str], recipient: str, version: int) -> list[str]:
        """The pseudonyms of `subjects` for `recipient` under key `version`, in order."""

    @abstractmethod
    def version_of(self, pseudonym: str, recipient: str) -> int:
        """The key version a pseudonym names; `InvalidPseudonym` when it is malformed."""

    @abstractmethod
    def open(self, pseudonym: str, recipient: str) -> str:
        """The subject behind a pseudonym issued to `recipient`, or `InvalidPseudonym`."""

    @abstractmethod
    def _build(self, subkey: bytes, recipient: str) -> C:
        """The prepared cipher for one 32-byte subkey of `recipient`."""

    def cipher(self, recipient: str, version: int) -> C:
        cached = self._ciphers.get((recipient, version))
        if cached is not None:
            return cached
        built = self._build(self.keys.key(self.key_purpose(recipient), version), recipient)
        with self._lock:
            if len(self._ciphers) >= _CACHE_LIMIT:
                self._ciphers.clear()
            self._ciphers[(recipient, version)] = built
        return built

    def issue(self, subject: str, recipient: str, version: int) -> str:
        return self.issue_many([subject], recipient, version)[0]


def require_recipient(recipient: str) -> None:
    if not recipient or "\x00" in recipient:
        raise InvalidPseudonym("recipient must be a non-empty id without nul characters")


