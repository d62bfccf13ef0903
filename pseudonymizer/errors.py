"""The pseudonymizer's own error hierarchy (it never imports `gateway`).

Messages follow the project style: one line, lowercase, no trailing period, names in
backticks, and never a key, a secret or a raw national id number.
"""

from __future__ import annotations


class PseudonymizerError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidNationalId(PseudonymizerError, ValueError):
    """The text is not a well-formed resident or foreigner registration number."""


class KeyLoadError(PseudonymizerError):
    """A master key could not be created, read or used."""


class UnknownKeyVersion(KeyLoadError):
    """A key version was asked for that the provider does not hold."""


class InvalidCustomerKey(PseudonymizerError, ValueError):
    """A customer key is not 32 lowercase hex characters."""


class InvalidPseudonym(PseudonymizerError, ValueError):
    """A pseudonym is malformed, forged, or was issued to another recipient."""


class ExpiredPseudonym(InvalidPseudonym):
    """A pseudonym of a superseded key version whose grace period has ended."""


class InvalidCiphertext(PseudonymizerError, ValueError):
    """A vault blob is malformed or does not authenticate for its row."""
