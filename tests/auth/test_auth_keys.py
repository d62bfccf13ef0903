"""Demo system keys from `affiliates.yaml` (idempotent, private keys 0600) and demo tokens."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.auth import Authenticator
from gateway.domain import SystemId
from gateway.errors import ConfigError, KeyLoadError, PolicyError
from gateway.keys import generate_system_keys, load_private_key, mint_token
from tests.auth.conftest import AUDIENCE, NOW, FakeSystem, open_store

AFFILIATES = {
    "affiliates": [
        {
            "id": "bank",
            "name": "Hanbit Bank",  # fields other than the systems' are ignored here
            "systems": [
                {"id": "bank-callcenter", "algorithm": "EdDSA",
                 "public_key": "systems/bank-callcenter.pub.pem", "permissions": ["query"]},
                {"id": "bank-fraud", "algorithm": "ES256",
                 "public_key": "systems/bank-fraud.pub.pem", "permissions": ["query"]},
            ],
        },
        {"id": "holding", "systems": []},
    ]
}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    policy, public, private = tmp_path / "policies", tmp_path / "keys", tmp_path / "secrets"
    policy.mkdir()
    (policy / "affiliates.yaml").write_text(yaml.safe_dump(AFFILIATES), "utf-8")
    return policy, public, private


def _public(public: Path, system: str) -> Path:
    return public / "systems" / f"{system}.pub.pem"


def _private(private: Path, system: str) -> Path:
    return private / "systems" / f"{system}.key.pem"


def test_generates_a_pair_of_the_pinned_type(dirs: tuple[Path, Path, Path]) -> None:
    policy, public, private = dirs
    assert generate_system_keys(policy, public, private) == ["bank-callcenter", "bank-fraud"]
    expected: dict[str, type] = {
        "bank-callcenter": ed25519.Ed25519PublicKey,
        "bank-fraud": ec.EllipticCurvePublicKey,
    }
    for system, key_type in expected.items():
        public_pem = _public(public, system).read_bytes()
        assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")  # SubjectPublicKeyInfo
        public_key = serialization.load_pem_public_key(public_pem)
        assert isinstance(public_key, key_type)
        private_path = _private(private, system)
        assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
        assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
        assert load_private_key(private_path).public_key() == public_key
    fraud_key = serialization.load_pem_public_key(_public(public, "bank-fraud").read_bytes())
    assert isinstance(fraud_key, ec.EllipticCurvePublicKey)
    assert isinstance(fraud_key.curve, ec.SECP256R1)


def test_second_run_skips_and_overwrite_regenerates(dirs: tuple[Path, Path, Path]) -> None:
    policy, public, private = dirs
    generate_system_keys(policy, public, private)
    before = _public(public, "bank-fraud").read_bytes()
    assert generate_system_keys(policy, public, private) == []
    assert _public(public, "bank-fraud").read_bytes() == before
    assert generate_system_keys(policy, public, private, overwrite=True) == [
        "bank-callcenter",
        "bank-fraud",
    ]
    assert _public(public, "bank-fraud").read_bytes() != before
    assert stat.S_IMODE(_private(private, "bank-fraud").stat().st_mode) == 0o600


def test_public_key_alone_is_left_alone(dirs: tuple[Path, Path, Path]) -> None:
    # In a deployment the gateway holds only public keys: never replace one.
    policy, public, private = dirs
    generate_system_keys(policy, public, private)
    _private(private, "bank-callcenter").unlink()
    before = _public(public, "bank-callcenter").read_bytes()
    assert generate_system_keys(policy, public, private) == []
    assert _public(public, "bank-callcenter").read_bytes() == before
    assert not _private(private, "bank-callcenter").exists()


def test_missing_public_key_is_derived_from_existing_private(
    dirs: tuple[Path, Path, Path],
) -> None:
    policy, public, private = dirs
    generate_system_keys(policy, public, private)
    before = _public(public, "bank-fraud").read_bytes()
    _public(public, "bank-fraud").unlink()
    assert generate_system_keys(policy, public, private) == [SystemId("bank-fraud")]
    assert _public(public, "bank-fraud").read_bytes() == before


@pytest.mark.parametrize(
    ("affiliates", "match"),
    [
        ("- not a mapping", "expected a mapping with an `affiliates` list"),
        ("affiliates: [{id: bank, systems: {a: 1}}]", "needs a `systems` list"),
        ("affiliates: [{id: bank, systems: [x]}]", "every system must be a mapping"),
        (  # RS256 is not in the allow-list
            "affiliates: [{id: bank, systems: [{id: s, algorithm: RS256, public_key: s.pem}]}]",
            "system `s`: `algorithm` must be `Ed25519` \\(or `EdDSA`\\) or `ESP256`",
        ),
        (  # the id becomes a file name: no path separators
            "affiliates: [{id: bank, systems: [{id: ../x, algorithm: EdDSA, public_key: s.pem}]}]",
            "system id must be lowercase",
        ),
        (  # a public key path must stay inside the keys folder
            "affiliates: [{id: b, systems: [{id: s, algorithm: EdDSA, public_key: ../s.pem}]}]",
            "`public_key` must be a path inside the keys folder",
        ),
        (
            "affiliates: [{id: b, systems: [{id: s, algorithm: EdDSA, public_key: /etc/s.pem}]}]",
            "`public_key` must be a path inside the keys folder",
        ),
        (
            "affiliates: [{id: b, systems: [{id: s, algorithm: EdDSA}]}]",
            "`public_key` path missing",
        ),
        ("affiliates: [unclosed", "is not valid yaml"),
    ],
)
def test_bad_affiliates_file_refused(tmp_path: Path, affiliates: str, match: str) -> None:
    (tmp_path / "affiliates.yaml").write_text(affiliates, "utf-8")
    with pytest.raises(PolicyError, match=match):
        generate_system_keys(tmp_path, tmp_path / "keys", tmp_path / "secrets")
    assert not (tmp_path / "keys").exists()


def test_missing_affiliates_file_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read `.*affiliates.yaml`"):
        generate_system_keys(tmp_path, tmp_path / "keys", tmp_path / "secrets")


# --- demo tokens ------------------------------------------------------------------------------
def test_minted_tokens_authenticate_end_to_end(
    dirs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    policy, public, private = dirs
    generate_system_keys(policy, public, private)
    registry: dict[str, FakeSystem] = {}
    for system, algorithm in (("bank-callcenter", "EdDSA"), ("bank-fraud", "ES256")):
        key = serialization.load_pem_public_key(_public(public, system).read_bytes())
        registry[system] = FakeSystem(system, "bank", algorithm, key)
    engine, store = open_store(tmp_path / "gateway.db")
    auth = Authenticator(registry.get, store, audience=AUDIENCE, max_lifetime_s=300, skew_s=30)
    for system, algorithm in (("bank-callcenter", "EdDSA"), ("bank-fraud", "ES256")):
        token = mint_token(_private(private, system), system=system, employee="emp-1",
                           audience=AUDIENCE, now=NOW, algorithm=algorithm)
        caller = auth.authenticate(f"Bearer {token}", now=NOW + timedelta(seconds=5), source=None)
        assert (caller.system, caller.affiliate, caller.employee) == (system, "bank", "emp-1")
    engine.dispose()


def test_minted_claims(dirs: tuple[Path, Path, Path]) -> None:
    policy, public, private = dirs
    generate_system_keys(policy, public, private)
    key_path = _private(private, "bank-callcenter")
    tokens = [
        mint_token(key_path, system="bank-callcenter", employee="emp-1", audience=AUDIENCE,
                   lifetime_s=60, now=NOW, algorithm="EdDSA")
        for _ in range(2)
    ]
    public_key = load_private_key(key_path).public_key()
    first, second = (
        jwt.decode(t, public_key, algorithms=["Ed25519"], audience=AUDIENCE,
                   options={"verify_exp": False, "verify_iat": False})
        for t in tokens
    )
    # the fully specified name (RFC 9864) of the pinned `EdDSA`
    assert jwt.get_unverified_header(tokens[0])["alg"] == "Ed25519"
    assert first["iss"] == "bank-callcenter" and first["sub"] == "emp-1"
    assert first["iat"] == int(NOW.timestamp()) and first["exp"] - first["iat"] == 60
    assert first["jti"] != second["jti"]  # fresh and random each time


@pytest.mark.parametrize(
    ("algorithm", "lifetime", "error", "match"),
    [
        ("HS256", 60, ConfigError, "algorithm `HS256` is not allowed"),
        ("none", 60, ConfigError, "algorithm `none` is not allowed"),
        ("ES256", 60, KeyLoadError, "is not a `ES256` private key"),  # Ed25519 key on file
        ("EdDSA", 0, ConfigError, "lifetime must be at least 1 s"),
    ],
)
def test_mint_token_refuses(
    dirs: tuple[Path, Path, Path],
    algorithm: str,
    lifetime: int,
    error: type[Exception],
    match: str,
) -> None:
    policy, public, private = dirs
    generate_system_keys(policy, public, private)
    with pytest.raises(error, match=match):
        mint_token(_private(private, "bank-callcenter"), system="bank-callcenter",
                   employee="emp-1", audience=AUDIENCE, lifetime_s=lifetime, algorithm=algorithm)


# --- loading private keys ---------------------------------------------------------------------
def _rsa_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _encrypted_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"demo-passphrase"),
    )


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "cannot read private key `.*key.pem`"),
        (b"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n",
         "is not an unencrypted pem private key"),
        (_encrypted_pem(), "is not an unencrypted pem private key"),  # needs a password
        (_rsa_pem(), "is neither an ed25519 nor a p-256 private key"),
        (ec.generate_private_key(ec.SECP384R1()).private_bytes(  # right family, wrong curve
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), "is neither an ed25519 nor a p-256"),
    ],
)
def test_load_private_key_refuses(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "x.key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyLoadError, match=match) as info:
        load_private_key(path)
    assert "-----" not in str(info.value) and "PRIVATE" not in str(info.value)  # no key text
