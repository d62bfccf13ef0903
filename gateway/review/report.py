"""The monthly review as a value: built from one scan, rendered as JSON, HTML or PDF.

`build_review` pins the log (tree size) and the instant use-by dates are judged at (`as_of`),
scans once (`scan.py`), aggregates (`aggregate.py`), finds the outliers (`outliers.py`) and
returns a `Review` whose `content` is the stable JSON document (schema `gateway.review/1`)
and whose `digest` is SHA-256 over that content's canonical JSON (RFC 8785, as log records
are hashed). The sign-offs found in the log are shown beside the content, not inside it:
signing a review off does not change what was signed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from gateway.accesslog.canonical import canonical_json
from gateway.domain import Category
from gateway.policy.model import Policy
from gateway.review import scan
from gateway.review.aggregate import MonthAggregate
from gateway.review.outliers import Thresholds, find_outliers
from gateway.review.period import Month, stamp

SCHEMA = "gateway.review/1"
HISTORY_MONTHS = 3
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Review:
    content: dict[str, Any]
    digest: str
    signoffs: list[dict[str, Any]]

    @property
    def month(self) -> str:
        return str(self.content["month"])

    @property
    def tree_size(self) -> int:
        return int(self.content["pin"]["tree_size"])

    @property
    def as_of(self) -> str:
        return str(self.content["pin"]["as_of"])

    def as_json(self) -> dict[str, Any]:
        return {"review": self.content, "digest": self.digest, "signoffs": self.signoffs}


def digest_of(content: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(content)).hexdigest()


def sensitive_attributes(policy: Policy) -> frozenset[str]:
    return frozenset(a.id for a in policy.attributes.values() if a.category == Category.SENSITIVE)


def build_review(engine: Engine, policy: Policy, month: Month, *, tree_size: int | None = None,
                 as_of: datetime | None = None, history_months: int = HISTORY_MONTHS,
                 limits: Thresholds = Thresholds(),
                 progress: Callable[[int, int], None] | None = None) -> Review:
    """The review of `month` over the log's first `tree_size` records (default: all now)."""
    if tree_size is None:
        tree_size = scan.head_size(engine)
    else:
        scan.check_pin(engine, tree_size)
    when = stamp(as_of if as_of is not None else datetime.now(UTC))
    history = tuple(month.history(history_months))
    agg = MonthAggregate(month, history, sensitive_attributes(policy), as_of=when)
    start = scan.scan_start(engine, history[0] if history else month, tree_size)
    for index, record in scan.records(engine, start, tree_size, progress):
        agg.add(index, record)
    agg.finish()
    content = review_content(agg, limits, first_index=start, tree_size=tree_size)
    return Review(content, digest_of(content), agg.signoffs)


def _ranked(counter: Counter[str]) -> list[dict[str, Any]]:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))  # most first, then by id
    return [{"id": k, "count": n} for k, n in ranked]


def review_content(agg: MonthAggregate, limits: Thresholds, *, first_index: int,
                   tree_size: int) -> dict[str, Any]:
    month = agg.month
    customers = agg.customer_counts()
    employees = [
        {"affiliate": a, "employee": e, "accesses": n,
         "distinct_customers": customers.get((a, e), 0),
         "night": agg.night.get((a, e), 0), "denials": agg.denials.get((a, e), 0),
         "history": agg.history_of((a, e))}
        for (a, e), n in sorted(agg.by_employee.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {
        "schema": SCHEMA,
        "month": str(month),
        "period": {"start": stamp(month.start()), "end": stamp(month.end()),
                   "timezone": "Asia/Seoul"},
        "history_months": [str(m) for m in agg.history_months],
        "pin": {"tree_size": tree_size, "as_of": agg.as_of},
        "scanned": {"first_index": first_index, "end_index": tree_size,
                    "records": agg.records_seen, "in_month": agg.in_month},
        "accesses": agg.accesses,
        "by_kind": dict(sorted(agg.by_kind.items())),
        "by_decision": dict(sorted(agg.by_decision.items())),
        "volumes": {"by_affiliate": _ranked(agg.by_affiliate),
                    "by_system": _ranked(agg.by_system),
                    "by_purpose": _ranked(agg.by_purpose),
                    "by_employee": employees},
        "heatmap": {"weekdays": list(WEEKDAYS), "hours": list(range(24)),
                    "counts": [list(row) for row in agg.heat]},
        "denials": {"count": agg.by_decision.get("deny", 0),
                    "by_reason": _ranked(agg.denied_by_reason),
                    "withheld_by_reason": _ranked(agg.withheld_by_reason)},
        "refusals": {"count": sum(agg.refused_by_problem.values()),
                     "by_problem": _ranked(agg.refused_by_problem),
                     "unauthenticated": agg.unauthenticated_refusals},
        "bulk": {"campaigns": [c.as_json() for c in sorted(agg.campaigns.values(),
                                                            key=lambda c: c.index)],
                 "exports": agg.exports, "pseudonym_mappings": agg.mappings},
        "overdue": {
            "campaigns": [c.as_json() for c in sorted(agg.overdue_campaigns(),
                                                       key=lambda c: c.index)],
            "queries": [{"affiliate": a, "purpose": p, "count": n}
                        for (a, p), n in sorted(agg.overdue_queries.items())]},
        "outliers": [o.as_json() for o in find_outliers(agg, limits)],
        "thresholds": limits.as_json(),
    }
