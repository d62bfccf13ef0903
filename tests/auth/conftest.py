"""Fixtures for the authenticate step: real keys per session, a real SQLite `used_tokens`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy.engine import Engine

from gateway.auth import Authenticator, JtiStore
from gateway.db.engine import make_engine
from gateway.db.models import UsedToken

NOW = datetime(2025, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
AUDIENCE = "affiliate-gateway"
MAX_LIFETIME_S = 300
SKEW_S = 30


@dataclass(frozen=True)
class FakeSystem:
    """Stands in for the policy's `System`: only what the authenticator reads."""

    id: str
    affiliate: str
    algorithm: str
    public_key: object


@dataclass(frozen=True)
class SessionKeys:
    bank_callcenter: ed25519.Ed25519PrivateKey  # EdDSA
    bank_fraud: ec.EllipticCurvePrivateKey  # ES256
    card_marketing: ed25519.Ed25519PrivateKey  # EdDSA, another system
    card_risk: ec.EllipticCurvePrivateKey  # ES256, another system
    rsa: rsa.RSAPrivateKey  # nobody's: for the RS256 attack


@pytest.fixture(scope="session")
def keys() -> SessionKeys:
    return SessionKeys(
        bank_callcenter=ed25519.Ed25519PrivateKey.generate(),
        bank_fraud=ec.generate_private_key(ec.SECP256R1()),
        card_marketing=ed25519.Ed25519PrivateKey.generate(),
        card_risk=ec.generate_private_key(ec.SECP256R1()),
        rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture(scope="session")
def systems(keys: SessionKeys) -> dict[str, FakeSystem]:
    return {
        s.id: s
        for s in (
            FakeSystem("bank-callcenter", "bank", "EdDSA", keys.bank_callcenter.public_key()),
            FakeSystem("bank-fraud", "bank", "ES256", keys.bank_fraud.public_key()),
            FakeSystem("card-marketing", "card", "EdDSA", keys.card_marketing.public_key()),
            FakeSystem("card-risk", "card", "ES256", keys.card_risk.public_key()),
        )
    }


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


def open_store(db_path: Path) -> tuple[Engine, JtiStore]:
    """A store on the SQLite file at `db_path`, creating `used_tokens` if it is missing."""
    engine = make_engine(f"sqlite:///{db_path.as_posix()}")
    UsedToken.__table__.create(engine, checkfirst=True)
    return engine, JtiStore(engine)


@pytest.fixture
def make_authenticator(
    systems: dict[str, FakeSystem], db_path: Path
) -> Iterator[Callable[[], Authenticator]]:
    """Builds a fresh authenticator (a "restart") on the same database file each call."""
    engines: list[Engine] = []

    def build() -> Authenticator:
        engine, store = open_store(db_path)
        engines.append(engine)
        return Authenticator(
            systems.get, store, audience=AUDIENCE, max_lifetime_s=MAX_LIFETIME_S, skew_s=SKEW_S
        )

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def authenticator(make_authenticator: Callable[[], Authenticator]) -> Authenticator:
    return make_authenticator()


def claims_for(system: str, **overrides: Any) -> dict[str, Any]:
    """Valid claims for `system` at NOW; an override of `None` drops that claim."""
    iat = int(NOW.timestamp())
    claims: dict[str, Any] = {
        "iss": system,
        "sub": "emp-20931",
        "aud": AUDIENCE,
        "iat": iat,
        "exp": iat + 120,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


@dataclass(frozen=True)
class Forge:
    """Builds tokens, good and bad, with the session keys."""

    keys: SessionKeys

    def key_of(self, system: str) -> Any:
        return getattr(self.keys, system.replace("-", "_"))

    def token(
        self,
        system: str = "bank-callcenter",
        *,
        signer: str | None = None,
        algorithm: str | None = None,
        **claims: Any,
    ) -> str:
        """Signed by `signer`'s key (default: the system's own) with its pinned algorithm."""
        signer = signer or system
        key = self.keys.rsa if signer == "rsa" else self.key_of(signer)
        if algorithm is None:
            algorithm = "RS256" if signer == "rsa" else (
                "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
            )
        # Sign at the JWS layer: PyJWT's own encoder refuses some of the malformed claims.
        payload = json.dumps(claims_for(system, **claims), separators=(",", ":")).encode()
        return jwt.api_jws.encode(payload, key, algorithm=algorithm)


@pytest.fixture(scope="session")
def forge(keys: SessionKeys) -> Forge:
    return Forge(keys)
