"""A month of synthetic access records for the demo, with one planted insider who stands out.

Every record is what the request path writes: the pure decision (`policy.decision.decide`)
of the shipped policy for a real caller, purpose and attributes, turned into a record by
`record.query_record`, and appended by the log's bulk writer (same bytes, same tree as
`AccessLog.append`). The records carry times in the reviewed month and the three months
before it (the outlier checks compare with those); their commit time is when the demo ran.

The planted insider, `lee.callcenter` of the bank's call centre, behaves like the other call
centre agents in the history months, then in the demo month looks at several times as many
customers, far beyond the book of any colleague, many of them late at night, and keeps
asking for the insurer's health risk class, which no rule grants (denied).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway import record
from sqlalchemy import Engine

from gateway.accesslog.merkle import root_from_leaves
from gateway.domain import (
    AffiliateId,
    AttributeId,
    AttributeRequest,
    Caller,
    CustomerKey,
    DecisionRequest,
    PurposeId,
    SystemId,
)
from gateway.policy.decision import decide
from gateway.policy.model import Policy
from gateway.review.period import KST, Month
from gateway.shape import Shaped

PLANTED = ("bank", "lee.callcenter")
PLANTED_SYSTEM = "bank-callcenter"
SURNAMES = ("kim", "lee", "park", "choi", "jung", "kang")
BOOK_SIZE = 120  # customers an ordinary employee mostly works with in a month
FORBIDDEN = "health_risk_class"  # sensitive; no rule grants it to anyone


@dataclass(frozen=True)
class Plan:
    purpose: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class Employee:
    affiliate: str
    system: str
    id: str
    plans: tuple[Plan, ...]
    daily: int  # typical accesses on a working day


def staff(policy: Policy) -> list[Employee]:
    """Six employees per query system that some consent-free rule serves."""
    found: list[Employee] = []
    for system in sorted(policy.systems.values(), key=lambda s: s.id):
        if "query" not in system.permissions:
            continue
        plans = tuple(
            Plan(rule.purpose, tuple(sorted(rule.attributes)))
            for rule in policy.rules
            if rule.recipient == system.affiliate and rule.permits_system(system.id)
            and not policy.purposes[rule.purpose].consent_required
            and not policy.purposes[rule.purpose].reidentification)
        if not plans:
            continue
        suffix = system.id.split("-", 1)[1]
        daily = 14 if "callcenter" in system.id else 6
        found += [Employee(system.affiliate, system.id, f"{name}.{suffix}", plans, daily)
                  for name in SURNAMES]
    return found


def demo_records(policy: Policy, customers: Sequence[str], month: Month, *,
                 history_months: int = 3, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """Records of the history months and of `month`, in time order within each day."""
    rng = random.Random(seed)
    people = staff(policy)
    books = {e.id: rng.sample(list(customers), min(BOOK_SIZE, len(customers))) for e in people}
    for current in [*month.history(history_months), month]:
        planted_month = current == month
        day = current.start().astimezone(KST)
        while day < current.end():
            todays: list[dict[str, Any]] = []
            for e in people:
                todays += _day(rng, policy, e, day, books[e.id], customers,
                               planted=planted_month and (e.affiliate, e.id) == PLANTED)
            todays.sort(key=lambda r: str(r["time"]))
            yield from todays
            day += timedelta(days=1)
    yield from _campaigns(policy, month, rng)


def _day(rng: random.Random, policy: Policy, e: Employee, day: datetime, book: list[str],
         everyone: Sequence[str], *, planted: bool) -> list[dict[str, Any]]:
    working = day.weekday() < 5
    n = max(0, round(rng.gauss(e.daily, e.daily / 4))) if working else rng.choice((0, 0, 0, 1))
    out = [_query(rng, policy, e, day.replace(hour=_office_hour(rng), minute=rng.randrange(60),
                                              second=rng.randrange(60)),
                  rng.choice(book), ask_forbidden=rng.random() < 0.02)
           for _ in range(n)]
    if planted and rng.random() < 0.7:  # about 21 nights a month, 30–50 look-ups a night
        for _ in range(rng.randint(30, 50)):
            hour = rng.choice((21, 22, 23, 0, 1))
            when = (day + timedelta(days=1 if hour < 8 else 0)).replace(
                hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
            out.append(_query(rng, policy, e, when, rng.choice(everyone),
                              ask_forbidden=rng.random() < 0.45))
    return out


def _office_hour(rng: random.Random) -> int:
    return rng.choice((9, 10, 10, 11, 11, 13, 14, 14, 15, 15, 16, 17, 18, 19))


def _query(rng: random.Random, policy: Policy, e: Employee, when: datetime, customer: str,
           *, ask_forbidden: bool) -> dict[str, Any]:
    plan = rng.choice(e.plans)
    k = rng.randint(1, min(3, len(plan.attributes)))
    wanted = rng.sample(plan.attributes, k)
    if ask_forbidden:
        wanted = [FORBIDDEN] if rng.random() < 0.7 else [*wanted, FORBIDDEN]
    caller = Caller(AffiliateId(e.affiliate), SystemId(e.system), e.id,
                    f"demo-{uuid.UUID(int=rng.getrandbits(128))}", source="10.20.0.15")
    requested = tuple(AttributeRequest(AttributeId(a)) for a in wanted)
    request = DecisionRequest(caller, PurposeId(plan.purpose), requested, customer_known=True,
                              now=when)
    decision = decide(policy, request, ())
    shaped = Shaped(released=tuple((r, None) for r in decision.released),
                    withheld=decision.withheld)
    return record.query_record(
        request_id=str(uuid.UUID(int=rng.getrandbits(128))), now=when, caller=caller,
        source=caller.source, customer=CustomerKey(customer), requested=requested,
        decision=decision, shaped=shaped)


def _campaigns(policy: Policy, month: Month, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Two SMS campaigns of the card company: one destroyed after use, one never confirmed.

    Synthetic events (no lines were extracted): they give the review's bulk and use-by
    sections something to show."""
    caller = Caller(AffiliateId("card"), SystemId("card-marketing"), "park.marketing",
                    "demo-campaign", source="10.20.0.40")
    days = ((6, "가을 카드 혜택 안내 문자", "MKT-DEMO-1106", True),
            (20, "연말 포인트 소멸 예정 안내 문자", "MKT-DEMO-1120", False))
    for day, reason, ticket, destroyed in days:
        opened = month.start().astimezone(KST).replace(day=day, hour=10)
        cid = str(uuid.UUID(int=rng.getrandbits(128)))
        use_by = opened + timedelta(days=7)
        common: dict[str, Any] = {"request_id": f"demo-{cid}", "caller": caller,
                                  "source": caller.source, "policy_version": policy.version,
                                  "status": 200}
        yield record.event_record(
            "campaign.open", now=opened, campaign=cid, purpose="marketing_sms", channel="sms",
            reason=reason, ticket=ticket, segment=[], attributes=["mobile_phone"],
            use_by=record.timestamp(use_by), format="ndjson", **common)
        released = rng.randint(3000, 9000)
        # the demo sends no lines: the commitment is over synthetic stand-ins, one per release
        root = root_from_leaves([f"demo-line-{cid}-{i}".encode() for i in range(released)])
        yield record.event_record(
            "campaign.close", now=opened + timedelta(minutes=4), campaign=cid,
            outcome="complete", candidates=released + 812, released=released,
            withheld={"no_consent": 812}, sent=released, leaves_root=root.hex(),
            tree_size=released, open_index=None, **common)
        if destroyed:
            yield record.event_record(
                "campaign.destruction", now=use_by - timedelta(hours=2), campaign=cid,
                reference="DEL-DEMO-1113", **common)



def write_demo_month(engine: Engine, policy: Policy, month: Month, *,
                     customers: int = 3000) -> int:
    """Append the demo month and its history months to the log; returns the records written
    (0 when the registry holds no customer yet)."""
    from sqlalchemy import select

    from gateway.accesslog.bulk import bulk_append
    from gateway.db.models import Customer

    with engine.connect() as conn:
        keys = [str(k) for k in conn.execute(
            select(Customer.customer_key).order_by(Customer.customer_key).limit(customers)
        ).scalars()]
    if not keys:
        return 0
    return bulk_append(engine, demo_records(policy, keys, month), create_tables=False)
