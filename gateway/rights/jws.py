"""Compact JWS (RFC 7515 §7.1) signed with EdDSA over Ed25519 (RFC 8037), for receipts.

Signing input: ASCII(BASE64URL(header) || "." || BASE64URL(payload)); the payload is the
receipt's canonical JSON (sorted keys, no whitespace, UTF-8), so the bytes a customer keeps are
the bytes that were signed. The verifier (`gateway_verify.receipt`) parses this by hand.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.accesslog.canonical import canonical_json
from gateway.errors import ValidationFailed
from gateway.rights.receipt_keys import ReceiptSigner, b64url

TYPE = "consent-receipt+jws"


def sign_compact(payload: dict[str, Any], signer: ReceiptSigner) -> str:
    header = {"alg": "EdDSA", "kid": signer.kid, "typ": TYPE}
    head = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode("ascii"))
    body = b64url(canonical_json(payload))
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url(signer.sign(signing_input))}"


class ReceiptInvalid(ValidationFailed):
    type_slug = "receipt-invalid"
    title = "the receipt is not one this gateway signed, unaltered"


def _b64url_strict(segment: str) -> bytes:
    """Decode base64url without padding, refusing any text that is not the canonical encoding
    of what it decodes to (otherwise two texts could carry one signature)."""
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ReceiptInvalid("receipt is not a compact jws") from exc
    if b64url(data) != segment:
        raise ReceiptInvalid("receipt is not a compact jws")
    return data


def verify_compact(token: str, public_key: Ed25519PublicKey, *, kid: str) -> dict[str, Any]:
    """The payload of a receipt signed by `public_key`, or `ReceiptInvalid` (never echoing it)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ReceiptInvalid("receipt is not a compact jws")
    head, body, signature = (_b64url_strict(p) for p in parts)
    try:
        header = json.loads(head)
        payload = json.loads(body)
    except ValueError as exc:
        raise ReceiptInvalid("receipt is not a compact jws") from exc
    if not isinstance(header, dict) or header.get("alg") != "EdDSA" or header.get("kid") != kid:
        raise ReceiptInvalid("receipt is not signed with the gateway's receipt key")
    try:
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature as exc:
        raise ReceiptInvalid("receipt signature does not verify") from exc
    if not isinstance(payload, dict):
        raise ReceiptInvalid("receipt payload is not an object")
    return payload
