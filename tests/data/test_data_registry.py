"""Customer registry: look-up by blind index, registration, relationships, failing closed."""

from __future__ import annotations

import random
import secrets
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gateway.db.models import Customer
from gateway.domain import CustomerKey
from gateway.errors import StoreUnavailable
from gateway.registry import AlreadyRegistered, CustomerRegistry
from pseudonymizer.rrn import IdForm, generate_rrn, parse_national_id
from pseudonymizer.vault import RrnVault

RNG = random.Random(7)
PRE2020 = generate_rrn(RNG, date(1990, 1, 1), 1)
POST2020 = generate_rrn(RNG, date(1985, 6, 30), 2, post2020=True)
FOREIGNER = generate_rrn(RNG, date(1992, 2, 29), 2, foreigner=True)


def _key() -> CustomerKey:
    return CustomerKey(secrets.token_hex(16))


@pytest.fixture
def registry(gateway_engine: Engine, vault: RrnVault) -> CustomerRegistry:
    return CustomerRegistry(gateway_engine, vault)


def test_register_then_look_up(registry: CustomerRegistry) -> None:
    key = _key()
    registry.register(parse_national_id(PRE2020), key)
    assert registry.lookup(PRE2020) == key
    assert registry.exists(key)


def test_unknown_number_and_key(registry: CustomerRegistry) -> None:
    registry.register(parse_national_id(PRE2020), _key())
    assert registry.lookup(FOREIGNER) is None
    assert not registry.exists(_key())


@pytest.mark.parametrize("rrn", [PRE2020, POST2020, FOREIGNER])
def test_row_keeps_only_index_and_ciphertext(registry: CustomerRegistry, gateway_engine: Engine,
                                             vault: RrnVault, rrn: str) -> None:
    key = _key()
    nid = parse_national_id(rrn)
    registry.register(nid, key)
    with gateway_engine.connect() as conn:
        row = conn.execute(select(Customer)).one()
    assert row.rrn_blind_index == vault.blind_index(rrn)
    assert rrn.encode() not in row.rrn_ciphertext
    assert vault.decrypt(row.rrn_ciphertext, key) == rrn
    assert (row.id_kind, row.id_form) == (nid.kind, nid.form.value)
    assert row.key_version >= 1


def test_kinds_and_forms_are_recorded(registry: CustomerRegistry, gateway_engine: Engine) -> None:
    registry.register(parse_national_id(PRE2020), _key())
    registry.register(parse_national_id(FOREIGNER), _key())
    with gateway_engine.connect() as conn:
        rows = set(tuple(r) for r in conn.execute(select(Customer.id_kind, Customer.id_form)))
    assert rows == {("resident", IdForm.CHECKSUM.value), ("foreigner", IdForm.CHECKSUM.value)}


def test_post2020_form_is_recorded(registry: CustomerRegistry, gateway_engine: Engine) -> None:
    # A random serial passes the check digit one time in ten: pick one that does not.
    rng = random.Random(11)
    rrn = next(r for r in (generate_rrn(rng, date(1985, 6, 30), 2, post2020=True)
                           for _ in range(100))
               if parse_national_id(r).form is IdForm.RANDOM_SERIAL)
    registry.register(parse_national_id(rrn), _key())
    with gateway_engine.connect() as conn:
        assert conn.execute(select(Customer.id_form)).scalar_one() == IdForm.RANDOM_SERIAL.value


@pytest.mark.parametrize("same", ["number", "key"])
def test_duplicate_registration_is_refused(registry: CustomerRegistry, same: str) -> None:
    key = _key()
    registry.register(parse_national_id(PRE2020), key)
    other_nid = parse_national_id(PRE2020 if same == "number" else FOREIGNER)
    other_key = _key() if same == "number" else key
    with pytest.raises(AlreadyRegistered, match="already registered") as info:
        registry.register(other_nid, other_key)
    assert PRE2020 not in str(info.value)


def test_relationships(registry: CustomerRegistry) -> None:
    key = _key()
    registry.register(parse_national_id(PRE2020), key)
    assert not registry.holds(key, "card")
    registry.add_relationship(key, "card", date(2015, 3, 1))
    registry.add_relationship(key, "card", date(2016, 3, 1))  # idempotent
    registry.add_relationship(key, "bank", date(2010, 1, 1))
    assert registry.holds(key, "card")
    assert not registry.holds(key, "insurance")
    assert registry.affiliates_of(key) == ("bank", "card")


def test_relationship_needs_a_registered_customer(registry: CustomerRegistry) -> None:
    with pytest.raises(StoreUnavailable, match="customer not registered"):
        registry.add_relationship(_key(), "bank", date(2020, 1, 1))


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.lookup(PRE2020),
        lambda r: r.holds(CustomerKey("0" * 32), "bank"),
        lambda r: r.exists(CustomerKey("0" * 32)),
        lambda r: r.register(parse_national_id(PRE2020), CustomerKey("0" * 32)),
        lambda r: r.affiliates_of(CustomerKey("0" * 32)),
    ],
)
def test_database_failure_fails_closed(broken_engine: Engine, vault: RrnVault,
                                      call: object) -> None:
    registry = CustomerRegistry(broken_engine, vault)
    with pytest.raises(StoreUnavailable, match="customer registry unavailable") as info:
        call(registry)  # type: ignore[operator]
    assert PRE2020 not in str(info.value)
