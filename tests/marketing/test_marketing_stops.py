"""The contact-stop store: register, lift, list; reads always hit the database; fail closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from gateway.db.engine import make_engine
from gateway.db.models import create_gateway_schema
from gateway.domain import AffiliateId, CustomerKey
from gateway.errors import StoreUnavailable
from gateway.marketing.stops import (
    ContactStopInvalid,
    ContactStopNotFound,
    ContactStopStore,
    StopReason,
    new_stop,
)

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ALICE = CustomerKey("a" * 32)
BOB = CustomerKey("b" * 32)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    create_gateway_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> ContactStopStore:
    return ContactStopStore(engine)


def register(store: ContactStopStore, customer: CustomerKey = ALICE, *,
             scope: str | None = None, channels: list[str] | None = None,
             now: datetime = NOW) -> str:
    stop = new_stop(customer=customer, scope=AffiliateId(scope) if scope else None,
                    channels=channels, reason=StopReason.CONTACT_STOP_REQUEST, now=now)
    return store.register(stop, system="bank-app", employee="e1").id


def test_register_and_read_back(store: ContactStopStore) -> None:
    sid = register(store, scope="card", channels=["sms", "email"])
    (stop,) = store.for_customer(ALICE)
    assert stop.id == sid and sid.startswith("cst_") and len(sid) > 20
    assert stop.scope == "card" and stop.channels == frozenset({"sms", "email"})
    assert stop.registered_at == NOW and stop.lifted_at is None
    assert stop.reason == "contact_stop_request"
    group = store.get(register(store), customer=ALICE)
    assert group.scope is None and group.channels is None  # NULL: the group, every channel


def test_a_stop_is_seen_by_another_store_at_once(engine: Engine, tmp_path: Path) -> None:
    # no cache: a second store on its own engine (another process) reads the committed row
    other = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    try:
        reader = ContactStopStore(other)
        assert reader.active_for(ALICE, NOW) == []
        sid = register(ContactStopStore(engine))
        assert [s.id for s in reader.active_for(ALICE, NOW)] == [sid]
        ContactStopStore(engine).lift(sid, NOW + timedelta(minutes=1), customer=ALICE,
                                      system="bank-app", employee="e1")
        assert reader.active_for(ALICE, NOW + timedelta(minutes=1)) == []
        # a lifted stop is still listed (it is evidence), and still in force before its lift
        assert [s.id for s in reader.for_customer(ALICE)] == [sid]
        assert [s.id for s in reader.active_for(ALICE, NOW)] == [sid]
    finally:
        other.dispose()


def test_lift_keeps_the_first_lift(store: ContactStopStore) -> None:
    sid = register(store)
    first = store.lift(sid, NOW + timedelta(hours=1), customer=ALICE, system="s", employee="e")
    again = store.lift(sid, NOW + timedelta(hours=2), customer=ALICE, system="s", employee="e")
    assert first.lifted_at == again.lifted_at == NOW + timedelta(hours=1)


def test_only_a_later_request_lifts(store: ContactStopStore) -> None:
    sid = register(store)
    with pytest.raises(ContactStopInvalid, match=r"only by a request made after"):
        store.lift(sid, NOW, customer=ALICE, system="s", employee="e")
    assert store.get(sid, customer=ALICE).lifted_at is None


def test_another_customers_stop_is_not_found(store: ContactStopStore) -> None:
    sid = register(store, ALICE)
    with pytest.raises(ContactStopNotFound, match=r"^no such contact stop for this customer$"):
        store.get(sid, customer=BOB)
    with pytest.raises(ContactStopNotFound, match=r"for this customer"):
        store.lift(sid, NOW + timedelta(hours=1), customer=BOB, system="s", employee="e")
    with pytest.raises(ContactStopNotFound, match=r"for this customer"):
        store.get("cst_unknown", customer=ALICE)
    assert store.get(sid, customer=ALICE).lifted_at is None  # untouched by Bob's request
    assert store.for_customer(BOB) == []


def test_bad_stops_are_refused(store: ContactStopStore) -> None:
    with pytest.raises(ContactStopInvalid, match=r"at least one channel"):
        new_stop(customer=ALICE, scope=None, channels=[], reason=StopReason.REFUSAL, now=NOW)
    with pytest.raises(ContactStopInvalid, match=r"timezone-aware"):
        new_stop(customer=ALICE, scope=None, channels=None, reason=StopReason.REFUSAL,
                 now=datetime(2026, 1, 1))


def test_database_failure_fails_closed(tmp_path: Path) -> None:
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables: every query fails
    try:
        broken = ContactStopStore(empty)
        with pytest.raises(StoreUnavailable, match=r"contact stop store unavailable"):
            broken.active_for(ALICE, NOW)
        with pytest.raises(StoreUnavailable, match=r"contact stop store unavailable"):
            register(broken)
    finally:
        empty.dispose()


def test_a_batch_read_sees_what_one_read_sees(store: ContactStopStore) -> None:
    kept = register(store, ALICE, channels=["sms"])
    lifted = register(store, ALICE, scope="card")
    store.lift(lifted, NOW + timedelta(hours=1), customer=ALICE, system="s", employee="e")
    register(store, BOB)
    # before the lift both of Alice's stops are in force; after it only the first; to the
    # microsecond, since timestamps are compared as the database holds them
    for at, alice in ((NOW + timedelta(minutes=59), {kept, lifted}),
                      (NOW + timedelta(hours=1, microseconds=1), {kept}),
                      (NOW + timedelta(hours=1), {kept})):
        many = store.active_for_many([ALICE, BOB, CustomerKey("0" * 32)], at)
        assert {s.id for s in many[ALICE]} == alice
        assert {s.id for s in many[ALICE]} == {s.id for s in store.active_for(ALICE, at)}
        assert len(many[BOB]) == 1 and many[CustomerKey("0" * 32)] == []
