"""Tamper-evident access log: canonical JSON records, RFC 9162 Merkle tree, C2SP checkpoints."""

from __future__ import annotations

from gateway.accesslog.canonical import canonical_json
from gateway.accesslog.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from gateway.accesslog.errors import (
    InvalidNoteSignature,
    LogCorrupted,
    LogRangeError,
    MalformedCheckpoint,
    MalformedNote,
    MalformedVerifierKey,
    NoteError,
    RecordNotCanonical,
    UnverifiedNote,
)
from gateway.accesslog.log import AccessLog
from gateway.accesslog.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from gateway.accesslog.note import LogSigner, parse_verifier_key, verify_note

__all__ = [
    "EMPTY_ROOT",
    "AccessLog",
    "Checkpoint",
    "InvalidNoteSignature",
    "LogCorrupted",
    "LogRangeError",
    "LogSigner",
    "MalformedCheckpoint",
    "MalformedNote",
    "MalformedVerifierKey",
    "NoteError",
    "RecordNotCanonical",
    "UnverifiedNote",
    "canonical_json",
    "format_checkpoint",
    "leaf_hash",
    "node_hash",
    "parse_checkpoint",
    "parse_verifier_key",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
]
