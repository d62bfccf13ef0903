"""Errors of the access log: narrow subclasses of the gateway's hierarchy."""

from __future__ import annotations

from gateway.errors import BadRequest, GatewayError, ValidationFailed


class RecordNotCanonical(GatewayError):
    """A record holds a value canonical JSON cannot carry (float, non-str key, lone surrogate)."""

    type_slug = "log-record-invalid"
    title = "access record cannot be canonicalized"


class LogRangeError(BadRequest):
    """An index or tree size outside the log (or a first size larger than the second)."""

    type_slug = "log-range"
    title = "index or tree size is outside the log"


class LogCorrupted(GatewayError):
    """A stored leaf or node that must exist is missing: the database was tampered with or lost."""

    type_slug = "log-corrupted"
    title = "access log storage is inconsistent"


class NoteError(ValidationFailed):
    """Base of signed-note and checkpoint failures (C2SP signed-note, tlog-checkpoint)."""

    type_slug = "log-note-invalid"
    title = "signed note does not verify"


class MalformedNote(NoteError):
    type_slug = "log-note-malformed"
    title = "signed note is malformed"


class MalformedVerifierKey(NoteError):
    type_slug = "log-verifier-key-malformed"
    title = "note verifier key is malformed"


class UnverifiedNote(NoteError):
    """No signature on the note is by one of the given keys."""

    type_slug = "log-note-unverified"
    title = "signed note has no signature by a known key"


class InvalidNoteSignature(NoteError):
    """A signature claims a known key but does not verify: the note was altered or forged."""

    type_slug = "log-note-signature"
    title = "signed note signature is invalid"


class MalformedCheckpoint(NoteError):
    type_slug = "log-checkpoint-malformed"
    title = "checkpoint body is malformed"


class ContactCapReached(GatewayError):
    """A record claimed marketing contacts beyond a channel's cap: it was not written.

    Never a client's answer: the appender decides again with `counts` (the contacts found under
    the append lock, per customer and channel) and appends the withheld record instead.
    """

    type_slug = "contact-cap-reached"
    title = "contact cap reached while recording"

    def __init__(self, detail: str, counts: dict[tuple[str, str], int]) -> None:
        super().__init__(detail)
        self.counts = counts
