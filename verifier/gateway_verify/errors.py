"""Errors of the verifier: an input that cannot even be read as what it claims to be."""

from __future__ import annotations


class VerifyError(Exception):
    """Base: the archive, a key or a checkpoint is unreadable or malformed."""


class MalformedKey(VerifyError):
    """A verifier key is not `name+hash+base64(0x01 ‖ ed25519 key)` or its hash is wrong."""


class MalformedNote(VerifyError):
    """A signed note or checkpoint body does not follow C2SP signed-note / tlog-checkpoint."""


class MalformedArchive(VerifyError):
    """The archive does not follow docs/EXPORT-FORMAT.md (members, order, json)."""
