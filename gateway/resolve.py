"""Resolve step: an RRN or the caller's own pseudonym → the group-internal customer key.

The answer for a customer the caller's affiliate does not hold is the same as for one nobody
holds (`known=False`, no pseudonym), so a query never reveals whether a person is a customer
of another affiliate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.domain import AffiliateId, Caller, CustomerKey
from gateway.errors import MalformedIdentifier, UnknownPseudonym
from pseudonymizer.pseudonyms import ExpiredPseudonym, InvalidPseudonym
from pseudonymizer.rrn import InvalidNationalId, parse_national_id


class Pseudonyms(Protocol):
    """The recipient's pseudonyms (`gateway.pseudonyms.RecipientPseudonyms`)."""

    def pseudonym(self, customer_key: CustomerKey, recipient: str) -> str: ...
    def resolve(self, pseudonym: str, recipient: str, *,
                now: datetime | None = None) -> CustomerKey: ...


class Registry(Protocol):
    def lookup(self, nid_digits: str) -> CustomerKey | None: ...
    def lookup_held(self, nid_digits: str, affiliate: str) -> tuple[CustomerKey | None, bool]: ...
    def holds(self, customer_key: CustomerKey, affiliate: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """How the caller names the customer: exactly one of the two is set."""

    rrn: str | None = None
    pseudonym: str | None = None

    def __repr__(self) -> str:  # never print an RRN, even by accident
        return "CustomerRef(rrn=<redacted>)" if self.rrn else f"CustomerRef(pseudonym={self.pseudonym!r})"


@dataclass(frozen=True, slots=True)
class Resolved:
    customer_key: CustomerKey | None  # None: nobody holds this RRN
    known: bool  # the caller's affiliate may see this customer
    pseudonym: str | None  # the caller's pseudonym, only when known


class PseudonymExpired(UnknownPseudonym):
    """A pseudonym of a superseded key version past its grace period (`pseudonym_grace_days`)."""

    type_slug = "pseudonym-expired"
    title = "pseudonym of an expired key version"


def _national_id(ref: CustomerRef) -> str:
    assert ref.rrn is not None
    try:
        return parse_national_id(ref.rrn).digits
    except InvalidNationalId as exc:
        # The message says what is wrong (length, date, century digit), never the number.
        raise MalformedIdentifier(f"national id number is malformed: {exc}") from None


def _by_pseudonym(ref: CustomerRef, recipient: AffiliateId, pseudonymizer: Pseudonyms,
                  now: datetime | None) -> CustomerKey:
    assert ref.pseudonym is not None
    try:
        return pseudonymizer.resolve(ref.pseudonym, recipient, now=now)
    except ExpiredPseudonym as exc:
        raise PseudonymExpired(str(exc)) from None
    except InvalidPseudonym as exc:
        raise UnknownPseudonym(f"pseudonym is not one issued to `{recipient}`: {exc}") from None


def customer_key_of(ref: CustomerRef, recipient: AffiliateId, *, registry: Registry,
                    pseudonymizer: Pseudonyms,
                    now: datetime | None = None) -> CustomerKey | None:
    """The customer key behind `ref`, or None when the gateway does not know the RRN."""
    if ref.pseudonym is not None:
        return _by_pseudonym(ref, recipient, pseudonymizer, now)
    return registry.lookup(_national_id(ref))


def resolve(ref: CustomerRef, caller: Caller, *, registry: Registry, pseudonymizer: Pseudonyms,
            sees_group_customers: bool, now: datetime | None = None) -> Resolved:
    key: CustomerKey | None
    if ref.pseudonym is not None:
        key = _by_pseudonym(ref, caller.affiliate, pseudonymizer, now)
        held = sees_group_customers or registry.holds(key, caller.affiliate)
    else:  # one indexed read answers both: whose RRN it is and whether the caller holds them
        key, held = registry.lookup_held(_national_id(ref), caller.affiliate)
        held = held or sees_group_customers
    if key is None:
        return Resolved(customer_key=None, known=False, pseudonym=None)
    if not held:
        return Resolved(customer_key=key, known=False, pseudonym=None)
    return Resolved(customer_key=key, known=True,
                    pseudonym=pseudonymizer.pseudonym(key, caller.affiliate))
