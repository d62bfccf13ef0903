"""Outliers: the demo's planted insider stands out for the right reasons; others do not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.policy import Policy
from gateway.review import build_review
from gateway.review.aggregate import aggregate
from gateway.review.demo_month import PLANTED
from gateway.review.outliers import Thresholds, find_outliers, modified_z
from gateway.review.period import Month

from .conftest import AS_OF, MONTH


def test_planted_insider_stands_out_with_its_reasons(policy: Policy,
                                                     demo_engine: Engine) -> None:
    review = build_review(demo_engine, policy, MONTH, as_of=datetime.fromisoformat(AS_OF))
    outliers = {(o["affiliate"], o["employee"]): o for o in review.content["outliers"]}
    assert list(outliers) == [PLANTED]  # and nobody else
    reasons = {r["code"]: r for r in outliers[PLANTED]["reasons"]}
    assert set(reasons) == {"volume_history", "volume_peers", "distinct_customers", "night",
                            "denials"}
    assert float(reasons["volume_history"]["value"]) >= 3.0
    assert float(reasons["volume_peers"]["value"]) > 3.5
    assert "KST" in reasons["night"]["ko"] and "KST" in reasons["night"]["en"]
    assert "Iglewicz" in reasons["volume_peers"]["en"]


def test_planted_insider_is_ordinary_in_the_history_months(policy: Policy,
                                                          demo_engine: Engine) -> None:
    """The same employee reviewed a month earlier: nothing to say."""
    review = build_review(demo_engine, policy, MONTH.previous(),
                          as_of=datetime.fromisoformat(AS_OF))
    assert review.content["accesses"] > 5_000
    assert review.content["outliers"] == []


def _q(employee: str, time: str, customer: str, released: list[str],
       system: str = "insurance-underwriting", decision: str = "allow") -> dict[str, Any]:
    return {"kind": "query", "time": time, "customer": customer, "purpose": "credit_risk",
            "decision": decision, "withheld": [],
            "actor": {"affiliate": "insurance", "system": system, "employee": employee},
            "released": [{"attribute": a, "view": "exact"} for a in released]}


def test_first_access_to_a_sensitive_attribute() -> None:
    month = Month(2026, 11)
    history = tuple(month.history(3))
    records = [
        _q("seen.before", "2026-09-03T01:00:00.000000Z", "c1", ["health_risk_class"]),
        _q("seen.before", "2026-11-03T01:00:00.000000Z", "c1", ["health_risk_class"]),
        _q("first.time", "2026-11-03T02:00:00.000000Z", "c2", ["name", "health_risk_class"]),
        _q("never", "2026-11-03T02:00:00.000000Z", "c2", ["name"]),
    ]
    agg = aggregate(enumerate(records), month, history_months=history,
                    sensitive=frozenset({"health_risk_class"}))
    found = {o.employee: [r.code for r in o.reasons] for o in find_outliers(agg)}
    assert found == {"first.time": ["sensitive_first"]}
    reason = find_outliers(agg)[0].reasons[0]
    assert "`health_risk_class`" in reason.ko and reason.value == "health_risk_class"


@pytest.mark.parametrize(("x", "values", "expected"), [
    # Iglewicz & Hoaglin: median 5, MAD 1 → 0.6745 · (12 − 5) / 1
    (12, [4, 5, 5, 6, 12], 0.6745 * 7),
    # MAD 0 (most values equal): the mean absolute deviation (0.4) stands in
    (7, [5, 5, 5, 5, 7], 2 / (1.253314 * 0.4)),
    (5, [5, 5, 5], None),  # no spread at all: no score
])
def test_modified_z_score(x: float, values: list[float], expected: float | None) -> None:
    found = modified_z(x, values)
    assert found == (None if expected is None else pytest.approx(expected))


def test_peer_score_needs_both_the_score_and_twice_the_median() -> None:
    """Six peers at 100–104 and one at 150: a high z-score, but not twice the median."""
    month = Month(2026, 11)
    records = []
    for n, employee in enumerate(["a", "b", "c", "d", "e", "f", "busy"]):
        volume = 150 if employee == "busy" else 100 + n
        records += [_q(employee, f"2026-11-{1 + i % 20:02d}T01:00:00.000000Z", f"c{i % 30}",
                       ["name"]) for i in range(volume)]
    agg = aggregate(enumerate(records), month)
    assert find_outliers(agg) == []
    assert [o.employee for o in find_outliers(agg, Thresholds(peer_ratio=1.2))] == ["busy"]
