"""Synthetic group: overlap, both number forms, realistic values, no raw number on disk."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from gateway.affiliates import AffiliateDatabases
from gateway.affiliates.schema import CUSTOMER_TABLES
from gateway.consents import ConsentStore
from gateway.db.engine import make_engine
from gateway.db.models import Consent, Customer, Relationship, create_gateway_schema
from gateway.domain import AffiliateId, CustomerKey, PurposeId
from gateway.errors import ConfigError
from gateway.registry import CustomerRegistry
from gateway.seed import (
    AlreadySeeded,
    SeedReport,
    demo_identity,
    demo_rrn,
    first_held_by,
    seed,
)
from gateway.seed.identities import identities
from gateway.seed.vocabulary import EMAIL_DOMAINS, REGIONS, SURNAMES
from pseudonymizer.keys import FileKeyProvider
from pseudonymizer.rrn import IdForm, is_valid_rrn_like, parse_national_id
from pseudonymizer.vault import RrnVault

N = 2_000
RNG_SEED = 424242


@dataclass
class Seeded:
    folder: Path
    engine: Engine
    databases: AffiliateDatabases
    report: SeedReport
    progress: list[tuple[int, int]]


Urls = Callable[[Path], dict[str, str]]


def _open(folder: Path, urls_in: Urls) -> tuple[Engine, AffiliateDatabases]:
    engine = make_engine(f"sqlite:///{folder / 'gateway.db'}")
    create_gateway_schema(engine)
    return engine, AffiliateDatabases(urls_in(folder))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, keys: FileKeyProvider,
           urls_in: Urls) -> Iterator[Seeded]:
    folder = tmp_path_factory.mktemp("seeded")
    engine, databases = _open(folder, urls_in)
    progress: list[tuple[int, int]] = []
    report = seed(engine, databases, keys, n_customers=N, rng_seed=RNG_SEED, chunk_size=700,
                  progress=lambda done, total: progress.append((done, total)))
    yield Seeded(folder, engine, databases, report, progress)
    databases.close()
    engine.dispose()


def _count(engine: Engine, table: str, where: str = "") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one())


def test_every_customer_is_registered_once_with_progress(seeded: Seeded) -> None:
    assert _count(seeded.engine, "customers") == N
    assert seeded.progress == [(700, N), (1400, N), (N, N)]
    assert seeded.report.customers == N


@pytest.mark.parametrize(
    ("affiliate", "low", "high"),
    [  # docs/DATA-MODEL.md: ~90 / 60 / 25 / 35 %, plus a little from "at least one"
        ("bank", 0.87, 0.95),
        ("card", 0.56, 0.66),
        ("securities", 0.21, 0.30),
        ("insurance", 0.31, 0.40),
    ],
)
def test_overlap_ratios(seeded: Seeded, affiliate: str, low: float, high: float) -> None:
    held = _count(seeded.engine, "relationships", f"WHERE affiliate = '{affiliate}'")
    assert low <= held / N <= high
    table = CUSTOMER_TABLES[affiliate]
    assert _count(seeded.databases.engine(affiliate), table.name) == held
    assert seeded.report.held[affiliate] == held


def test_relationships_match_affiliate_rows(seeded: Seeded) -> None:
    with seeded.engine.connect() as conn:
        rel = {(r.customer_key, r.affiliate) for r in conn.execute(select(Relationship))}
        keys = set(conn.execute(select(Customer.customer_key)).scalars())
    rows = set()
    for affiliate, table in CUSTOMER_TABLES.items():
        with seeded.databases.engine(affiliate).connect() as conn:
            rows |= {(k, affiliate) for k in conn.execute(select(table.c.customer_key)).scalars()}
    assert rel == rows
    assert {k for k, _ in rel} == keys  # every customer is held by at least one affiliate


def test_both_number_forms_and_foreigners(seeded: Seeded, keys: FileKeyProvider) -> None:
    with seeded.engine.connect() as conn:
        forms = Counter(conn.execute(select(Customer.id_form)).scalars())
        kinds = Counter(conn.execute(select(Customer.id_kind)).scalars())
        sample = conn.execute(select(Customer).limit(300)).all()
    # ~15 % random serial, of which one in ten passes the check digit by chance
    assert 0.09 <= forms[IdForm.RANDOM_SERIAL.value] / N <= 0.18
    assert 0.01 <= kinds["foreigner"] / N <= 0.05
    vault = RrnVault(keys)
    for row in sample:  # the stored form is what the parser says about the decrypted number
        nid = parse_national_id(vault.decrypt(row.rrn_ciphertext, row.customer_key))
        assert (nid.kind, nid.form.value) == (row.id_kind, row.id_form)
        assert vault.blind_index(nid.digits) == row.rrn_blind_index


def test_demo_rrn_finds_the_seeded_customer(seeded: Seeded, keys: FileKeyProvider) -> None:
    registry = CustomerRegistry(seeded.engine, RrnVault(keys))
    bank = CUSTOMER_TABLES["bank"]
    for index in (0, 1, 17, N - 1):
        person = demo_identity(RNG_SEED, index)
        key = registry.lookup(demo_rrn(RNG_SEED, index))
        assert key is not None
        assert registry.affiliates_of(key) == tuple(sorted(person.holdings))
        if "bank" in person.holdings:
            with seeded.databases.engine("bank").connect() as conn:
                row = conn.execute(select(bank.c.name, bank.c.rrn_masked, bank.c.birth_date)
                                   .where(bank.c.customer_key == key)).one()
            assert (row.name, row.rrn_masked, row.birth_date) == (
                person.name, person.rrn_masked, person.birth)
    assert registry.lookup(demo_rrn(RNG_SEED, N)) is None  # one past the seeded population


def test_first_customer_held_by(seeded: Seeded, keys: FileKeyProvider) -> None:
    person = first_held_by(RNG_SEED, ["bank", "card", "securities"], N)
    assert {"bank", "card", "securities"} <= set(person.holdings)
    key = CustomerRegistry(seeded.engine, RrnVault(keys)).lookup(person.rrn)
    assert key is not None
    with pytest.raises(LookupError, match=r"no seeded customer is held by all of \['nobody'\]"):
        first_held_by(RNG_SEED, ["nobody"], 10)


def test_identity_stream_is_deterministic_distinct_and_masked() -> None:
    first = [p.rrn for p in islice(identities(RNG_SEED), 3000)]
    assert first == [p.rrn for p in islice(identities(RNG_SEED), 3000)]
    assert len(set(first)) == len(first)
    assert first[:50] != [p.rrn for p in islice(identities(RNG_SEED + 1), 50)]
    person = demo_identity(RNG_SEED, 5)
    assert person.rrn not in repr(person)
    assert re.fullmatch(r"\d{6}-\d\*{6}", person.rrn_masked)
    with pytest.raises(ValueError, match="index must be non-negative"):
        demo_identity(RNG_SEED, -1)


def test_bank_values_look_real(seeded: Seeded) -> None:
    surnames = tuple(sorted((s for s, _, _ in SURNAMES), key=len, reverse=True))
    with seeded.databases.engine("bank").connect() as conn:
        rows = conn.execute(select(CUSTOMER_TABLES["bank"])).all()
    residents = 0
    for row in rows:
        assert re.fullmatch(r"\d{6}-[1-8]\*{6}", row.rrn_masked)
        assert re.fullmatch(r"010-\d{4}-\d{4}", row.mobile_phone)
        sido, sigungu = row.address.split(" ")[:2]
        assert sigungu in REGIONS[sido][1]
        assert row.email is None or row.email.rsplit("@", 1)[1] in EMAIL_DOMAINS
        assert 1 <= row.credit_grade <= 10
        assert row.annual_income >= 0 and row.deposit_balance >= 0 and row.loan_balance >= 0
        if row.rrn_masked[7] in "1234":
            residents += 1
            assert row.name.startswith(surnames) and 2 <= len(row.name) <= 4
    assert residents > 0.9 * len(rows)
    incomes = sorted(r.annual_income for r in rows if r.annual_income)
    mean, median = sum(incomes) / len(incomes), incomes[len(incomes) // 2]
    assert mean > median  # right-skewed, as incomes are


def test_json_columns_parse(seeded: Seeded) -> None:
    with seeded.databases.engine("card").connect() as conn:
        card = conn.execute(select(CUSTOMER_TABLES["card"])).all()
    for row in card:
        assert json.loads(row.card_products) and all(
            p.startswith("한빛 ") for p in json.loads(row.card_products))
        spending = json.loads(row.spending_by_category)
        amounts = [item["amount"] for item in spending]
        assert amounts == sorted(amounts, reverse=True)
        assert set(spending[0]) == {"category", "amount"}
        assert isinstance(json.loads(row.interests), list)
    with seeded.databases.engine("insurance").connect() as conn:
        insurance = conn.execute(select(CUSTOMER_TABLES["insurance"])).all()
    for row in insurance:
        has_car_policy = "자동차보험" in json.loads(row.insurance_policies)
        assert (row.insured_car_model is not None) == has_car_policy


# 13 digits, optionally hyphenated after the sixth, not inside a longer digit run. Customer
# keys (32 lowercase hex) are blanked first: a digit run inside one is not a number.
_CANDIDATE = re.compile(rb"(?<!\d)(\d{6}-?\d{7})(?!\d)")
_HEX_KEY = re.compile(rb"[0-9a-f]{32}")
_ANY_WINDOW = re.compile(rb"(?=(\d{13}|\d{6}-\d{7}))")


def _leaks(data: bytes, numbers: set[str]) -> tuple[int, int]:
    """(seeded numbers found anywhere, other valid-looking numbers found) in `data`."""
    windows = {m.group(1).replace(b"-", b"").decode() for m in _ANY_WINDOW.finditer(data)}
    blanked = _HEX_KEY.sub(b"#" * 32, data)
    lookalikes = [m for m in _CANDIDATE.findall(blanked) if is_valid_rrn_like(m.decode())]
    return len(windows & numbers), len(lookalikes)


def test_the_scan_finds_a_planted_number(tmp_path: Path) -> None:
    # Positive control for the scan below: a raw number written into SQLite is found.
    number = demo_rrn(RNG_SEED, 3)
    engine = make_engine(f"sqlite:///{tmp_path / 'leak.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT, v TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", ("0f" * 16, number))
    engine.dispose()
    assert _leaks((tmp_path / "leak.db").read_bytes(), {number}) == (1, 1)


def test_no_raw_number_in_any_seeded_file(seeded: Seeded) -> None:
    seeded.databases.close()
    seeded.engine.dispose()  # checkpoint and close the WAL so every byte is in the files
    seeded_numbers = {p.rrn for p in islice(identities(RNG_SEED), N)}
    files = [f for f in seeded.folder.rglob("*") if f.is_file()]
    assert len([f for f in files if f.suffix == ".db"]) == 5
    for file in files:
        assert _leaks(file.read_bytes(), seeded_numbers) == (0, 0), f"leak in `{file.name}`"


def test_reseed_is_refused_without_force(tmp_path: Path, keys: FileKeyProvider,
                                         urls_in: Urls) -> None:
    engine, databases = _open(tmp_path, urls_in)
    try:
        seed(engine, databases, keys, n_customers=50, rng_seed=1)
        with pytest.raises(AlreadySeeded, match="synthetic data exists already: use `--force`"):
            seed(engine, databases, keys, n_customers=50, rng_seed=1)
        ConsentStore(engine).grant(
            customer=CustomerKey("f" * 32), recipient=AffiliateId("card"),
            purpose=PurposeId("credit_risk"), categories={"financial"}, channel=None,
            expires_at=None, evidence_ref="e", granted_by_system="s", granted_by_employee="e",
            now=datetime.now(timezone.utc))
        seed(engine, databases, keys, n_customers=80, rng_seed=2, force=True)
        assert _count(engine, "customers") == 80
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Consent)).scalar_one() == 0
    finally:
        databases.close()
        engine.dispose()


def test_seed_needs_the_gateway_schema(tmp_path: Path, keys: FileKeyProvider,
                                       urls_in: Urls) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    databases = AffiliateDatabases(urls_in(tmp_path))
    try:
        with pytest.raises(ConfigError, match="gateway schema missing: run `gateway db upgrade`"):
            seed(engine, databases, keys, n_customers=10)
        with pytest.raises(ConfigError, match="`n_customers` and `chunk_size` must be positive"):
            seed(engine, databases, keys, n_customers=0)
    finally:
        databases.close()
        engine.dispose()
