"""Check a consent receipt: a compact JWS (RFC 7515 §7.1) signed with EdDSA/Ed25519 (RFC 8037).

    from gateway_verify.receipt import verify_receipt
    result = verify_receipt(Path("receipt.jws").read_bytes(), public_key_pem)
    result.ok, result.problem, result.payload

The receipt file holds the three base64url segments joined by dots (one trailing newline
allowed). Every segment must be the canonical unpadded base64url of what it decodes to, so that
one receipt has exactly one text: any altered byte of the file fails, including the low bits of
a segment's last character that a lenient decoder would ignore. The header must say
`alg: EdDSA` and name the key (`kid`, the RFC 7638 thumbprint of the trusted key); the
signature is checked over the first two segments exactly as written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class ReceiptKeyError(Exception):
    """The trusted key file is not an Ed25519 public key (a usage error, not a finding)."""


@dataclass(frozen=True)
class ReceiptResult:
    ok: bool
    problem: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(segment: str) -> bytes | None:
    if not segment or any(c not in _ALPHABET for c in segment):
        return None
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64url(data) == segment else None


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ReceiptKeyError("the key file is not a pem public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ReceiptKeyError("the key file is not an ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = '{"crv":"Ed25519","kty":"OKP","x":"' + _b64url(raw) + '"}'
    return _b64url(hashlib.sha256(jwk.encode("ascii")).digest())


def verify_receipt(data: bytes, key: Ed25519PublicKey) -> ReceiptResult:
    if data.endswith(b"\n"):
        data = data[:-1]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return ReceiptResult(False, "the receipt is not a compact jws (non-ascii byte)")
    parts = text.split(".")
    if len(parts) != 3:
        return ReceiptResult(False, "the receipt is not a compact jws (three segments)")
    decoded = [_decode(p) for p in parts]
    if any(d is None for d in decoded):
        return ReceiptResult(False, "a segment of the receipt is not canonical base64url")
    head, body, signature = (d or b"" for d in decoded)
    try:
        header = json.loads(head)
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ReceiptResult(False, "the receipt's header or payload is not json")
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        return ReceiptResult(False, "the receipt is not signed with EdDSA")
    if header.get("kid") != key_id(key):
        return ReceiptResult(False, "the receipt names another key than the trusted one")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        return ReceiptResult(False, "the receipt's signature does not verify: it was altered "
                                    "or signed by another key")
    if not isinstance(payload, dict):
        return ReceiptResult(False, "the receipt's payload is not an object")
    return ReceiptResult(True, None, payload)
