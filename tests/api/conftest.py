"""A real gateway for API tests: generated keys, migrated SQLite files, the ASGI app."""

from __future__ import annotations

import json
import random
import secrets as pysecrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, Table, insert

from gateway.affiliates.schema import create_affiliate_schema
from gateway.api.app import create_app
from gateway.db.base import Base
from gateway.db.migrate import upgrade
from gateway.keys import generate_system_keys, load_private_key, mint_token
from gateway.services import Services, ensure_secrets
from gateway.settings import Settings
from pseudonymizer.rrn import generate_rrn, parse_national_id

AFFILIATE_TABLES = {
    "bank": "bank_customers",
    "card": "card_members",
    "securities": "securities_accounts",
    "insurance": "insurance_customers",
}


@dataclass(frozen=True)
class TestCustomer:
    rrn: str  # synthetic; never printed (repr hides it)
    key: str

    def __repr__(self) -> str:
        return f"TestCustomer(key={self.key!r})"

    @property
    def ref(self) -> dict[str, str]:
        return {"rrn": self.rrn}


@dataclass
class Harness:
    settings: Settings
    services: Services
    client: TestClient
    algorithms: dict[str, str]
    rng: random.Random = field(default_factory=lambda: random.Random(20261123))
    now: datetime | None = None  # a test that moves the gateway's clock mints tokens at it too

    # -- tokens ---------------------------------------------------------------------------
    def private_key_path(self, system: str) -> Path:
        return self.settings.secrets_path / "systems" / f"{system}.key.pem"

    def token(self, system: str, *, employee: str = "tester", lifetime: int = 120) -> str:
        return mint_token(self.private_key_path(system), system=system, employee=employee,
                          audience=self.settings.audience, lifetime_s=lifetime,
                          algorithm=self.algorithms[system], now=self.now)

    def raw_token(self, system: str, claims: dict[str, Any], *, algorithm: str | None = None,
                  key: Any = None, headers: dict[str, Any] | None = None) -> str:
        """A token with hand-picked claims (for attacks)."""
        alg = algorithm or self.algorithms[system]
        signing_key = key if key is not None else load_private_key(self.private_key_path(system))
        return jwt.encode(claims, signing_key, algorithm=alg, headers=headers)

    def claims(self, system: str, **overrides: Any) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        base = {"iss": system, "sub": "tester", "aud": self.settings.audience,
                "iat": int(now.timestamp()), "exp": int((now + timedelta(seconds=60)).timestamp()),
                "jti": pysecrets.token_hex(16)}
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def auth(self, system: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(system, **kw)}"}

    # -- data -----------------------------------------------------------------------------
    def customer(self, held_by: dict[str, dict[str, Any]], *, foreigner: bool = False,
                 post2020: bool = False, birth: date = date(1988, 3, 14)) -> TestCustomer:
        rrn = generate_rrn(self.rng, birth=birth, sex=1, foreigner=foreigner, post2020=post2020)
        nid = parse_national_id(rrn)
        key = pysecrets.token_hex(16)
        self.services.registry.register(nid, key)
        relationships = Base.metadata.tables["relationships"]
        with self.services.gateway_engine.begin() as conn:
            for affiliate in held_by:
                conn.execute(insert(relationships).values(
                    customer_key=key, affiliate=affiliate,
                    since=date(2020, 1, 1)))
        for affiliate, values in held_by.items():
            engine = self.services.affiliates.engine(affiliate)
            table = Table(AFFILIATE_TABLES[affiliate], MetaData(), autoload_with=engine)
            with engine.begin() as conn:
                conn.execute(insert(table).values(customer_key=key, **values))
        return TestCustomer(rrn=rrn, key=key)

    # -- the log --------------------------------------------------------------------------
    def unauthenticated_records(self, since: int) -> list[dict[str, Any]]:
        """Write the unauthenticated refusals counted so far, the open minute included (as a
        clean stop does), and return every `refusals.unauthenticated` record from log index
        `since` on (the minute's own flush may have written some already)."""
        assert self.client.portal is not None, "the client's lifespan is not running"
        self.client.portal.call(self.services.unauthenticated.drain)
        size = self.services.access_log.size()
        found = [json.loads(raw) for raw in self.services.access_log.records(since, size)]
        return [r for r in found if r["kind"] == "refusals.unauthenticated"]

    def query(self, system: str, customer: dict[str, str], purpose: str,
              attributes: list[Any], **headers: str) -> Any:
        return self.client.post(
            "/v1/queries",
            json={"customer": customer, "purpose": purpose, "attributes": attributes},
            headers={**self.auth(system), **headers},
        )


def build_settings(tmp: Path, policy_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        database_url=database_url,
        policy_dir=policy_dir,
        public_keys_dir=tmp / "public-keys",
        checkpoint_interval_s=0.2,
        log_batch_wait_ms=0.5,
    )


def postgres_settings(tmp: Path, policy_dir: Path, url: str) -> Settings:
    """`build_settings` with the gateway and every affiliate database on the PostgreSQL at
    `url`, as in production."""
    settings = build_settings(tmp, policy_dir, database_url=url)
    settings.affiliate_database_urls.update(
        {a: url for a in ("bank", "card", "securities", "insurance")})
    return settings


def start_harness(settings: Settings) -> Iterator[Harness]:
    algorithms = {}
    ensure_secrets(settings, create=True)
    generate_system_keys(Path(settings.policy_dir), Path(settings.public_keys_dir),
                         settings.secrets_path)
    upgrade(settings.gateway_url)
    services = Services.build(settings)
    for affiliate in AFFILIATE_TABLES:
        create_affiliate_schema(services.affiliates.engine(affiliate), affiliate)
    for system in services.policy.current.systems.values():
        algorithms[system.id] = system.algorithm
    app = create_app(settings, services=services)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Harness(settings=settings, services=services, client=client, algorithms=algorithms)
    services.close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    yield from start_harness(build_settings(tmp_path_factory.mktemp("gw"), policy_dir))


BANK_ROW = {
    "name": "김민준", "rrn_masked": "880314-1******", "birth_date": date(1988, 3, 14),
    "address": "서울특별시 강남구 테헤란로 152, 101동 1203호", "mobile_phone": "010-2345-6789",
    "email": "minjun.kim@example.com", "employer": "한빛전자", "job_title": "과장",
    "annual_income": 72_000_000, "deposit_balance": 23_500_000, "loan_balance": 180_000_000,
    "credit_grade": 3, "callcenter_memo": "카드 한도 상향 문의",
}
CARD_ROW = {
    "card_products": '["한빛 가족사랑카드", "한빛 트래블카드"]', "monthly_card_spend": 1_850_000,
    "spending_by_category": '[{"category": "외식", "amount": 420000}, '
    '{"category": "여행", "amount": 900000}, {"category": "교육", "amount": 150000}, '
    '{"category": "쇼핑", "amount": 380000}]',
    "interests": '["여행", "골프"]',
}
