"""The customer registry: national id number → group-internal customer key, and who holds whom.

Look-ups go through the keyed blind index (one indexed row); the raw number is never stored,
only its AES-GCM ciphertext bound to the row's customer key (개인정보 보호법 제24조의2).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Protocol

from sqlalchemy import Select, bindparam, exists, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.db.models import Customer, Relationship
from gateway.db.reader import Reader
from gateway.domain import CustomerKey
from gateway.errors import GatewayError, StoreUnavailable
from pseudonymizer.rrn import NationalId

__all__ = ["AlreadyRegistered", "CustomerRegistry", "Vault", "ciphertext_key_version"]


class Vault(Protocol):
    def blind_index(self, digits: str) -> bytes: ...
    def encrypt(self, digits: str, customer_key: str) -> bytes: ...


class AlreadyRegistered(GatewayError):
    status = 409
    type_slug = "customer-exists"
    title = "customer is already registered"


def ciphertext_key_version(blob: bytes) -> int:
    """Key version in an `RrnVault` blob header (format byte, then a 4-byte big-endian version)."""
    return int.from_bytes(blob[1:5], "big")


# The request path's look-ups, compiled once (`gateway.db.reader`): each one indexed row.
_BY_BLIND_INDEX = select(Customer.customer_key).where(
    Customer.rrn_blind_index == bindparam("blind_index"))
_NUMBER_OF = select(Customer.customer_no).where(Customer.customer_key == bindparam("key"))
_KEY_OF_NUMBER = select(Customer.customer_key).where(Customer.customer_no == bindparam("number"))
_HELD_BY_BLIND_INDEX = (
    select(Customer.customer_key, Relationship.affiliate)
    .outerjoin(Relationship, (Relationship.customer_key == Customer.customer_key)
               & (Relationship.affiliate == bindparam("affiliate")))
    .where(Customer.rrn_blind_index == bindparam("blind_index")))
_HOLDS = select(Relationship.customer_key).where(
    Relationship.customer_key == bindparam("key"), Relationship.affiliate == bindparam("affiliate"))


class CustomerRegistry:
    """Indexed single-row look-ups on `customers` and `relationships`; errors fail closed."""

    def __init__(self, engine: Engine, vault: Vault) -> None:
        self._engine = engine
        self._vault = vault
        self._reader = Reader(engine, name="customer registry")
        self._by_blind_index = self._reader.prepare("by_blind_index", _BY_BLIND_INDEX)
        self._number_of = self._reader.prepare("number_of", _NUMBER_OF)
        self._key_of_number = self._reader.prepare("key_of_number", _KEY_OF_NUMBER)
        self._holds = self._reader.prepare("holds", _HOLDS)
        self._held = self._reader.prepare("held_by_blind_index", _HELD_BY_BLIND_INDEX)

    def lookup(self, nid_digits: str) -> CustomerKey | None:
        """The customer key for canonical 13 digits (`NationalId.digits`), or None."""
        row = self._reader.one(self._by_blind_index,
                               {"blind_index": self._vault.blind_index(nid_digits)})
        return None if row is None else CustomerKey(row[0])

    def lookup_held(self, nid_digits: str, affiliate: str) -> tuple[CustomerKey | None, bool]:
        """The customer key for canonical 13 digits, and whether `affiliate` holds that
        customer, in one read (the registry's unique index, then the relationship's key)."""
        row = self._reader.one(self._held, {"blind_index": self._vault.blind_index(nid_digits),
                                            "affiliate": affiliate})
        if row is None:
            return None, False
        return CustomerKey(row[0]), row[1] is not None

    def number_of(self, customer_key: CustomerKey) -> int | None:
        """The customer's number (legacy `ff1-13` pseudonyms), or None (primary-key look-up)."""
        row = self._reader.one(self._number_of, {"key": customer_key})
        return None if row is None or row[0] is None else int(row[0])

    def key_of_number(self, customer_no: int) -> CustomerKey | None:
        """The customer key behind a customer number, or None (unique-index look-up)."""
        row = self._reader.one(self._key_of_number, {"number": customer_no})
        return None if row is None else CustomerKey(row[0])

    def register(self, nid: NationalId, customer_key: CustomerKey, *,
                 now: datetime | None = None) -> None:
        """Add a customer; refuses a number or a key that is already registered."""
        ciphertext = self._vault.encrypt(nid.digits, customer_key)
        # `customer_no` is left to its column default: the INSERT itself draws the next number
        row = {
            "customer_key": customer_key,
            "rrn_blind_index": self._vault.blind_index(nid.digits),
            "rrn_ciphertext": ciphertext,
            "id_kind": nid.kind,
            "id_form": nid.form.value,
            "key_version": ciphertext_key_version(ciphertext),
            "created_at": now or datetime.now(timezone.utc),
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(Customer), row)
        except IntegrityError as exc:
            # Which constraint failed is not said: it would confirm that a number is known.
            raise AlreadyRegistered("customer number or key is already registered") from exc
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"customer registry unavailable: {type(exc).__name__}") from exc

    def add_relationship(self, customer_key: CustomerKey, affiliate: str, since: date) -> None:
        """Record that `affiliate` holds the customer (idempotent for an existing pair)."""
        if self.holds(customer_key, affiliate):
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(Relationship), {"customer_key": customer_key,
                                                    "affiliate": affiliate, "since": since})
        except IntegrityError as exc:
            if self.holds(customer_key, affiliate):  # a concurrent writer got there first
                return
            raise StoreUnavailable(
                f"relationship refused for affiliate `{affiliate}`: customer not registered"
            ) from exc
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"customer registry unavailable: {type(exc).__name__}") from exc

    def holds(self, customer_key: CustomerKey, affiliate: str) -> bool:
        """Whether `affiliate` holds the customer (primary-key look-up)."""
        return self._reader.one(self._holds, {"key": customer_key, "affiliate": affiliate}) \
            is not None

    def exists(self, customer_key: CustomerKey) -> bool:
        return self._exists(select(exists().where(Customer.customer_key == customer_key)))

    def affiliates_of(self, customer_key: CustomerKey) -> tuple[str, ...]:
        """Every affiliate that holds the customer, sorted (for demos and data-subject requests)."""
        query = (select(Relationship.affiliate)
                 .where(Relationship.customer_key == customer_key)
                 .order_by(Relationship.affiliate))
        try:
            with self._engine.connect() as conn:
                return tuple(conn.execute(query).scalars())
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"customer registry unavailable: {type(exc).__name__}") from exc

    def _exists(self, query: Select[tuple[bool]]) -> bool:
        try:
            with self._engine.connect() as conn:
                return bool(conn.execute(query).scalar())
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"customer registry unavailable: {type(exc).__name__}") from exc
