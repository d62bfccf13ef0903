"""The signature algorithms a system may be pinned to, and the key types that fit each.

Only asymmetric algorithms are allowed, so the gateway never holds a secret that could mint
a token (RFC 8725 §3.1: use an allow-list; §2.1 and §3.2: never mix HMAC with public keys).
EdDSA is RFC 8037 (Ed25519 only: Ed448 is refused), ES256 is RFC 7518 §3.4 (P-256).

RFC 9864 gives each a fully specified name, `Ed25519` and `ESP256`, and deprecates the
polymorphic `EdDSA`; a token may carry either name of the algorithm its system is pinned to
(`TOKEN_ALGORITHMS`), and the key type pinned for the system is what is checked.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import jwt
import jwt.algorithms
import jwt.api_jws
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALLOWED_ALGORITHMS: tuple[str, ...] = ("EdDSA", "ES256")
# the `alg` header values a token of a system pinned to each algorithm may carry
TOKEN_ALGORITHMS: dict[str, frozenset[str]] = {
    "EdDSA": frozenset({"EdDSA", "Ed25519"}),
    "ES256": frozenset({"ES256", "ESP256"}),
}


# the RFC 9864 name of each algorithm a system may be pinned to: what minted tokens carry
FULLY_SPECIFIED: dict[str, str] = {"EdDSA": "Ed25519", "ES256": "ESP256"}


def pinned_name(name: object) -> object:
    """The name a policy pin is kept under: an RFC 9864 name (`Ed25519`, `ESP256`) pins the
    same algorithm as the older one (`EdDSA`, `ES256`); anything else is returned as is."""
    return {v: k for k, v in FULLY_SPECIFIED.items()}.get(name, name) if isinstance(
        name, str) else name

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class LowSEcdsaP256(jwt.algorithms.ECAlgorithm):
    """ECDSA over P-256 with SHA-256 whose signatures are low-S.

    (r, s) and (r, n − s) verify alike, so a token's signature could be rewritten into a
    second valid token string. Signing therefore normalizes s to at most n/2, and verifying
    refuses the high-S twin (as Bitcoin's BIP 146 and the JOSE hardening advice do).
    """

    def __init__(self) -> None:
        super().__init__(jwt.algorithms.ECAlgorithm.SHA256, ec.SECP256R1)

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        signature = super().sign(msg, key)
        r, s = signature[:32], int.from_bytes(signature[32:], "big")
        return r + (P256_ORDER - s if s > P256_ORDER // 2 else s).to_bytes(32, "big")

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        if len(sig) != 64:
            return False
        s = int.from_bytes(sig[32:], "big")
        if s > P256_ORDER // 2:
            return False
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return bool(super().verify(msg, key, sig))  # a private key: PyJWT's own way
        # PyJWT's verify, without building the hash's objects again for every token
        try:
            key.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), s), msg,
                       _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True


# PyJWT's signature algorithm for each `alg` a token may carry: what verifies a signature
VERIFIERS: dict[str, jwt.algorithms.Algorithm] = {
    "EdDSA": jwt.algorithms.OKPAlgorithm(), "Ed25519": jwt.algorithms.OKPAlgorithm(),
    "ES256": LowSEcdsaP256(), "ESP256": LowSEcdsaP256(),
}
assert set(VERIFIERS) == set().union(*TOKEN_ALGORITHMS.values())


def _register_algorithms() -> None:
    """Teach PyJWT the RFC 9864 names (it knows `EdDSA` and `ES256` only, so far), and make
    its P-256 signatures low-S both ways, for this process."""
    for name in ("Ed25519", "ES256", "ESP256"):
        algorithm = VERIFIERS[name]
        try:
            jwt.unregister_algorithm(name)
        except KeyError:
            pass
        jwt.register_algorithm(name, algorithm)


_register_algorithms()

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
