"""The streamed aggregation equals a naive count over the same records, read back from a log."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from gateway.accesslog.bulk import bulk_append
from gateway.policy import Policy
from gateway.review import build_review
from gateway.review.distinct import EXACT_LIMIT, DistinctCounter, hash64
from gateway.review.period import Month, MonthInvalid

from .conftest import AS_OF, MONTH

SEOUL = ZoneInfo("Asia/Seoul")


def _query(time: str, employee: str, customer: str, *, decision: str = "allow",
           withheld: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"kind": "query", "time": time, "customer": customer, "purpose": "customer_service",
            "actor": {"affiliate": "bank", "system": "bank-callcenter", "employee": employee},
            "released": [] if decision == "deny" else [{"attribute": "name", "view": "masked"}],
            "withheld": withheld or [], "decision": decision}


# edge rows, each with why it is there
EDGES: list[dict[str, Any]] = [
    _query("2026-10-31T15:00:00.000000Z", "edge.start", "c1"),  # 00:00 KST Nov 1: in
    _query("2026-10-31T14:59:59.999999Z", "edge.before", "c1"),  # 23:59 KST Oct 31: history
    _query("2026-11-30T14:59:59.999999Z", "edge.end", "c2"),  # last instant of November KST
    _query("2026-11-30T15:00:00.000000Z", "edge.after", "c2"),  # December KST: out
    _query("2026-11-10T13:30:00.000000Z", "edge.night", "c3", decision="deny",  # 22:30 KST
           withheld=[{"attribute": "a", "reason": "no_rule"},
                     {"attribute": "b", "reason": "no_rule"}]),  # one denial, one reason
    {"kind": "refused", "time": "2026-11-10T01:00:00.000000Z", "problem": "token-expired",
     "actor": {"affiliate": "bank", "system": "bank-callcenter", "employee": "edge.night"}},
    {"kind": "refused", "time": "2026-11-10T01:00:00.000000Z", "problem": "missing-token",
     "actor": None},  # no caller known
    {"kind": "refusals.unauthenticated", "time": "2026-11-10T01:00:59.000000Z",  # one source's
     "actor": None, "source": "203.0.113.7", "count": 7,  # minute: each problem by its count
     "problems": {"token-missing": {"status": 401, "count": 5},
                  "unsupported-media-type": {"status": 415, "count": 2}}},
    {"kind": "query", "actor": None},  # no time: ignored
    {"kind": "query", "time": "not-a-time-at-all", "actor": None},  # malformed: ignored
    {"kind": "consent.grant", "time": "2026-11-02T01:00:00.000000Z", "actor": None},
]


def _naive(records: list[dict[str, Any]], month: Month) -> dict[str, Any]:
    """The counts, written out the plain way: parse every time, convert to KST, compare."""
    by_affiliate: Counter[str] = Counter()
    by_employee: Counter[tuple[str, str]] = Counter()
    by_purpose: Counter[str] = Counter()
    by_system: Counter[str] = Counter()
    heat = [[0] * 24 for _ in range(7)]
    denied: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    customers: dict[tuple[str, str], set[str]] = {}
    night: Counter[tuple[str, str]] = Counter()
    for r in records:
        try:
            local = datetime.fromisoformat(r["time"].replace("Z", "+00:00")).astimezone(SEOUL)
        except (KeyError, ValueError):  # no time, or not a time: in no month
            continue
        if (local.year, local.month) != (month.year, month.month):
            continue
        if r["kind"] == "refused":
            refused[r["problem"]] += 1
        if r["kind"] == "refusals.unauthenticated":
            for problem, each in r["problems"].items():
                refused[problem] += each["count"]
        if r["kind"] != "query":
            continue
        actor = r["actor"]
        who = (actor["affiliate"], actor["employee"])
        by_affiliate[actor["affiliate"]] += 1
        by_system[actor["system"]] += 1
        by_employee[who] += 1
        by_purpose[r["purpose"]] += 1
        heat[local.weekday()][local.hour] += 1
        night[who] += local.hour >= 21 or local.hour < 8
        customers.setdefault(who, set()).add(r["customer"])
        if r["decision"] == "deny":
            for reason in {w["reason"] for w in r["withheld"]}:
                denied[reason] += 1
    return {"by_affiliate": by_affiliate, "by_system": by_system, "by_employee": by_employee,
            "by_purpose": by_purpose, "heat": heat, "denied": denied, "refused": refused,
            "customers": {k: len(v) for k, v in customers.items()}, "night": night}


def _ranked(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter({r["id"]: r["count"] for r in rows})


def test_review_equals_a_naive_count_of_the_same_records(
        policy: Policy, engine: Engine, demo_month: list[dict[str, Any]]) -> None:
    records = [*demo_month, *EDGES]
    bulk_append(engine, records, batch=7_000)
    review = build_review(engine, policy, MONTH, as_of=datetime.fromisoformat(AS_OF))
    content, naive = review.content, _naive(records, MONTH)

    assert content["scanned"]["records"] == len(records)
    assert content["accesses"] == sum(naive["by_affiliate"].values()) > 5_000
    for key in ("by_affiliate", "by_system", "by_purpose"):
        assert _ranked(content["volumes"][key]) == naive[key], key
    employees = {(e["affiliate"], e["employee"]): e for e in content["volumes"]["by_employee"]}
    assert {k: e["accesses"] for k, e in employees.items()} == dict(naive["by_employee"])
    assert {k: e["night"] for k, e in employees.items()} == \
        {k: naive["night"][k] for k in employees}
    assert content["heatmap"]["counts"] == naive["heat"]
    assert _ranked(content["denials"]["by_reason"]) == naive["denied"]
    assert _ranked(content["refusals"]["by_problem"]) == naive["refused"]
    assert content["refusals"]["unauthenticated"] == 7  # the one source-minute record's count
    for who, exact in naive["customers"].items():
        counted = employees[who]["distinct_customers"]
        if exact <= EXACT_LIMIT:
            assert counted == exact, who
        else:  # HyperLogLog above the exact limit: 2.3 % standard error, 4 σ allowed
            assert abs(counted - exact) <= 0.1 * exact, (who, counted, exact)
    assert employees["bank", "edge.night"]["denials"] == 2  # its denial and its refusal
    assert ("bank", "edge.before") not in employees and ("bank", "edge.after") not in employees


def test_review_is_reproducible_from_its_pins(policy: Policy, demo_engine: Engine) -> None:
    as_of = datetime.fromisoformat(AS_OF)
    first = build_review(demo_engine, policy, MONTH, as_of=as_of)
    bulk_append(demo_engine, [_query("2026-11-03T01:00:00.000000Z", "late.one", "c9")])
    again = build_review(demo_engine, policy, MONTH, as_of=as_of, tree_size=first.tree_size)
    grown = build_review(demo_engine, policy, MONTH, as_of=as_of)
    assert again.digest == first.digest
    assert grown.digest != first.digest  # a record committed late still counts


def test_review_scan_starts_near_the_history_months(
        policy: Policy, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records committed before the history window are not read at all (created_at index)."""
    from gateway.accesslog import store

    long_ago = datetime.fromisoformat("2025-01-10T01:00:05+00:00")
    with monkeypatch.context() as patched:  # committed long ago, as they would have been
        patched.setattr(store, "now", lambda: long_ago)
        bulk_append(engine, [_query("2025-01-10T01:00:00.000000Z", "old", "c1")] * 3)
    bulk_append(engine, [_query("2026-11-03T01:00:00.000000Z", "new", "c1")])
    review = build_review(engine, policy, MONTH)
    assert review.content["scanned"]["first_index"] == 3
    assert review.content["scanned"]["records"] == 1
    assert review.content["accesses"] == 1


def test_distinct_counter_is_exact_when_small_and_close_when_large() -> None:
    small, large = DistinctCounter(), DistinctCounter()
    for i in range(EXACT_LIMIT):
        small.add_hash(hash64(f"k{i % 40}"))
    for i in range(50_000):
        large.add_hash(hash64(f"k{i % 20_000}"))
    assert small.exact and small.count() == 40
    assert not large.exact and abs(large.count() - 20_000) < 20_000 * 0.07


@pytest.mark.parametrize("text", [
    "2026-13",  # no 13th month
    "2026-7",  # month needs two digits
    "26-11",  # two-digit year
    "2026-11-01",  # a date, not a month
    "<script>",
])
def test_month_is_refused_without_echo(text: str) -> None:
    with pytest.raises(MonthInvalid, match="yyyy-mm") as caught:
        Month.parse(text)
    assert text not in str(caught.value)


def test_month_bounds_are_kst() -> None:
    november = Month.parse("2026-11")
    assert november.start().isoformat() == "2026-10-31T15:00:00+00:00"
    assert november.end().isoformat() == "2026-11-30T15:00:00+00:00"
    assert [str(m) for m in Month(2026, 2).history(3)] == ["2025-11", "2025-12", "2026-01"]


def _release(time: str, use_by: str, affiliate: str = "card") -> dict[str, Any]:
    """A query record as the receipts work writes it: each released item carries its use-by."""
    return {"kind": "query", "time": time, "customer": "c1", "purpose": "credit_risk",
            "decision": "allow", "withheld": [],
            "actor": {"affiliate": affiliate, "system": f"{affiliate}-risk", "employee": "e"},
            "released": [{"attribute": "credit_grade", "view": "exact", "use_by": use_by}]}


def test_releases_past_their_use_by_without_destruction() -> None:
    from gateway.review.aggregate import aggregate

    records = [
        _release("2026-11-02T01:00:00.000000Z", "2026-11-20"),  # 0: past, destroyed below
        _release("2026-11-02T02:00:00.000000Z", "2026-11-20"),  # 1: past, never destroyed
        _release("2026-11-02T03:00:00.000000Z", "2026-11-20"),  # 2: past; another's confirmation
        _release("2026-11-02T04:00:00.000000Z", "2026-12-05"),  # 3: due today: not yet past
        _release("2026-10-02T04:00:00.000000Z", "2026-10-20"),  # 4: an earlier month's release
        {"kind": "release.destruction", "time": "2026-11-25T01:00:00.000000Z", "status": 200,
         "actor": {"affiliate": "card"}, "releases": [0, 4]},
        {"kind": "release.destruction", "time": "2026-11-25T01:00:00.000000Z", "status": 200,
         "actor": {"affiliate": "bank"}, "releases": [2]},  # not the bank's release
    ]
    agg = aggregate(enumerate(records), MONTH, as_of="2026-12-04T16:00:00.000000Z")  # 12-05 KST
    assert agg.overdue_queries == {("card", "credit_risk"): 2}
