"""The signature algorithms a system may be pinned to, and the key types that fit each.

Only asymmetric algorithms are allowed, so the gateway never holds a secret that could mint
a token (RFC 8725 §3.1: use an allow-list; §2.1 and §3.2: never mix HMAC with public keys).
EdDSA is RFC 8037 (Ed25519 only: Ed448 is refused), ES256 is RFC 7518 §3.4 (P-256).

RFC 9864 gives each a fully specified name, `Ed25519` and `ESP256`, and deprecates the
polymorphic `EdDSA`; a token may carry either name of the algorithm its system is pinned to
(`TOKEN_ALGORITHMS`), and the key type pinned for the system is what is checked.
"""

from __future__ import annotations

from typing import TypeGuard

import jwt
import jwt.algorithms
import jwt.api_jws
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ALLOWED_ALGORITHMS: tuple[str, ...] = ("EdDSA", "ES256")
# the `alg` header values a token of a system pinned to each algorithm may carry
TOKEN_ALGORITHMS: dict[str, frozenset[str]] = {
    "EdDSA": frozenset({"EdDSA", "Ed25519"}),
    "ES256": frozenset({"ES256", "ESP256"}),
}


def _register_fully_specified_names() -> None:
    """Teach PyJWT the RFC 9864 names (it knows `EdDSA` and `ES256` only, so far)."""
    known = jwt.api_jws.get_algorithm_by_name
    for name, algorithm in (("Ed25519", jwt.algorithms.OKPAlgorithm()),
                            ("ESP256", jwt.algorithms.ECAlgorithm(
                                jwt.algorithms.ECAlgorithm.SHA256, ec.SECP256R1))):
        try:
            known(name)
        except NotImplementedError:
            jwt.register_algorithm(name, algorithm)


_register_fully_specified_names()

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def public_key_fits(key: object, algorithm: str) -> TypeGuard[PublicKey]:
    """True when `key` is a public key of exactly the type `algorithm` needs."""
    if algorithm == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey)
    if algorithm == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    return False


def private_key_fits(key: object, algorithm: str) -> TypeGuard[PrivateKey]:
    """True when `key` is a private key of exactly the type `algorithm` needs."""
    if algorithm == "EdDSA":
        return isinstance(key, ed25519.Ed25519PrivateKey)
    if algorithm == "ES256":
        return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    return False


def generate_private_key(algorithm: str) -> PrivateKey:
    """A fresh private key for `algorithm` (which must be one of `ALLOWED_ALGORITHMS`)."""
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"algorithm `{algorithm}` is not allowed")
