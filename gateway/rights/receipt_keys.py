"""The gateway's consent-receipt key: Ed25519, generated on first run, public key published.

The private key lives in the secrets folder (`receipt-signing.key.pem`, PEM PKCS#8, owner-only),
beside the log-signing keys, and is never committed. Its public key is published as
`<public keys folder>/receipts/receipt-signing-v1.pub.pem` (PEM SubjectPublicKeyInfo) so that a
customer, a channel or a regulator can check a receipt with `gateway-verify receipt FILE --key
KEYFILE`. The JWS `kid` is derived from the public key (RFC 7638 thumbprint of its OKP JWK), so a
receipt names the key that signed it and a rotated key cannot be mistaken for the old one.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import ConfigError, KeyLoadError

KEY_FILE = "receipt-signing.key.pem"
PUBLIC_SUBDIR = "receipts"
PUBLIC_FILE = "receipt-signing-v1.pub.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint of the OKP key (`{"crv","kty","x"}` in that order, SHA-256)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = '{"crv":"Ed25519","kty":"OKP","x":"' + b64url(raw) + '"}'
    return b64url(hashlib.sha256(jwk.encode("ascii")).digest())


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True)
class ReceiptSigner:
    private_key: Ed25519PrivateKey
    kid: str

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


def has_receipt_key(secrets: Path) -> bool:
    return (secrets / KEY_FILE).is_file()


def create_receipt_key(secrets: Path, public_dir: Path) -> ReceiptSigner:
    """Generate the key (refusing to replace one) and publish its public key."""
    path = secrets / KEY_FILE
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    secrets.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyLoadError(f"receipt key `{path.name}` exists already: refusing to replace it") \
            from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    signer = ReceiptSigner(key, key_id(key.public_key()))
    publish(public_dir, signer)
    return signer


def publish(public_dir: Path, signer: ReceiptSigner) -> Path:
    """Write the public key (atomically); a different published key is replaced, as for a
    brand-new deployment's first log key (the secrets folder holds the one that signs)."""
    path = public_dir / PUBLIC_SUBDIR / PUBLIC_FILE
    data = public_pem(signer.public_key)
    if path.is_file() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def load_receipt_signer(secrets: Path) -> ReceiptSigner:
    path = secrets / KEY_FILE
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise ConfigError(f"receipt key missing in `{secrets}`: run `gateway keys init` "
                          "first") from exc
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"receipt key `{path.name}` could not be loaded") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyLoadError(f"receipt key `{path.name}` is not an ed25519 key")
    return ReceiptSigner(key, key_id(key.public_key()))


_SIGNERS: dict[Path, ReceiptSigner] = {}


def signer_for(secrets: Path) -> ReceiptSigner:
    """The receipt signer of a secrets folder, loaded once per process."""
    found = _SIGNERS.get(secrets)
    if found is None:
        found = _SIGNERS[secrets] = load_receipt_signer(secrets)
    return found
