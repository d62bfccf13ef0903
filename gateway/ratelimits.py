"""Rate limits, the request path's part: what one request counts against the policy's limits.

The policy limits each system as a whole and each employee of a system (affiliates.yaml
`limits:`): requests per minute, distinct customers per hour and per day (issue #12). This
module turns the caller and the request's clock into a `Usage` that rides with the access record;
the log writer counts it under its append lock and refuses the record beyond a limit
(`gateway.accesslog.usage`), so that nothing is released before the count says it is within
the limit (fail closed) and the count is exact across processes (docs/RATE-LIMITS.md).
"""

from __future__ import annotations

import math

from gateway.accesslog.usage import (
    CUSTOMERS_DAY,
    CUSTOMERS_HOUR,
    REQUESTS,
    Measure,
    RateLimited,
    Subject,
    Usage,
    bucket_of,
)
from gateway.domain import Caller, CustomerKey
from gateway.policy.model import Limits, Policy

__all__ = ["RateLimited", "refuse_early", "remember", "usage_for"]

# (id of the limits, minute) → their measures in that minute's windows; the hour and the KST
# day follow from the minute. Small: a few subjects' limits in the current minute.
_MEASURES: dict[tuple[int, int], tuple[Limits, tuple[Measure, ...]]] = {}
_CACHE_MAX = 4096


def _measures(limits: Limits, at: float) -> tuple[Measure, ...]:
    minute = bucket_of(REQUESTS, at)
    key = (id(limits), minute)
    found = _MEASURES.get(key)
    if found is not None and found[0] is limits:
        return found[1]
    measures = tuple(
        Measure(name, minute if name == REQUESTS else bucket_of(name, at), limit.limit,
                limit.alert)
        for name, limit in ((REQUESTS, limits.requests_per_minute),
                            (CUSTOMERS_HOUR, limits.customers_per_hour),
                            (CUSTOMERS_DAY, limits.customers_per_day))
        if limit is not None)
    if len(_MEASURES) >= _CACHE_MAX:
        _MEASURES.clear()
    _MEASURES[key] = (limits, measures)  # the limits kept alive with their id
    return measures


# (policy version, subject) → the writer's refusal of a full requests-per-minute window, seen by
# this process: until the window ends every request of that subject would be refused again
_FULL: dict[tuple[str, str], RateLimited] = {}


def remember(policy: Policy, refusal: RateLimited) -> None:
    """Keep the writer's refusal of a full requests-per-minute window for `refuse_early`. (Only
    that measure: a full customer window still admits the customers already counted in it.)"""
    if refusal.measure == REQUESTS and refusal.subject:
        if len(_FULL) >= _CACHE_MAX:
            _FULL.clear()
        _FULL[(policy.version, refusal.subject)] = refusal


def refuse_early(policy: Policy, caller: Caller, at: float) -> None:
    """Refuse, before any work, a request whose requests-per-minute window this process already
    saw refused as full: the writer would refuse it too (a count never falls within a window,
    and refusals do not count). Under a flood, a refusal then costs a record, not a query."""
    if not _FULL:
        return
    for subject in (f"employee:{caller.system}/{caller.employee}", f"system:{caller.system}"):
        full = _FULL.get((policy.version, subject))
        if full is None:
            continue
        start, end = full.window
        if at >= end:
            _FULL.pop((policy.version, subject), None)
        elif at >= start:
            raise RateLimited(str(full.detail), measure=full.measure, scope=full.scope,
                              retry_after=max(1, math.ceil(end - at)), subject=subject,
                              window=full.window)


def usage_for(policy: Policy, caller: Caller, customer: CustomerKey | None, at: float,
              request_id: str) -> Usage | None:
    """The system's and the employee's measures this request counts against (None: neither
    is limited). `customer`: the customer key when the request names a known customer."""
    system_limits = policy.limits.for_system(caller.system)
    employee_limits = policy.limits.for_employee(caller.system, caller.employee)
    subjects = []
    if not system_limits.empty:
        subjects.append(Subject(f"system:{caller.system}", caller.affiliate, caller.system,
                                None, _measures(system_limits, at)))
    if not employee_limits.empty:
        subjects.append(Subject(f"employee:{caller.system}/{caller.employee}", caller.affiliate,
                                caller.system, caller.employee, _measures(employee_limits, at)))
    if not subjects:
        return None
    return Usage(tuple(subjects), customer, at, request_id, caller.employee, policy.version)
