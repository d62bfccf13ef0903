"""One pass over a month's access records: counters keyed by small tuples, flat memory.

`MonthAggregate.add` takes one decoded record at a time and keeps only counts: volumes per
affiliate, system, employee and purpose, a KST weekday × hour heat map, denials and refusals
by reason, per-employee night-time, denial and distinct-customer counts, sensitive attributes
released (a handful of names per employee), and the few bulk events of a month (campaigns,
exports, pseudonym mappings). Records of the history months before the reviewed one add only
to per-employee monthly volumes and sensitive attributes seen, which the outlier checks
compare against. Nothing grows with the number of records but the distinct-customer sketches,
which are bounded (`distinct.py`), and 11 bytes per release of the month past its use-by day
(to match the `release.destruction` records that may name it later in the log).

An *access* is a `query` record (personal data asked for by a named employee); a *denial* is
a query answered `deny`; a *refusal* is a `refused` record (the request failed a check before
any decision: bad token, permission, schema). Records are read as the log holds them, so the
counts of a review can be re-derived by anyone holding the same records.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.review.distinct import DistinctCounter, hash64
from gateway.review.period import KST, Month

EmployeeKey = tuple[str, str]  # (affiliate, employee): employee ids are unique per affiliate
NIGHT_START_HOUR = 21  # 21:00–08:00 KST, the night the marketing rules also use
NIGHT_END_HOUR = 8
BULK_KINDS = ("campaign.open", "campaign.close", "campaign.destruction", "log.export",
              "pseudonym.map")
SIGNOFF_KIND = "review.signoff"
# one source's unauthenticated refusals in one minute, counted per problem type
UNAUTHENTICATED_KIND = "refusals.unauthenticated"  # gateway.unauthenticated.KIND
RELEASE_DESTRUCTION_KIND = "release.destruction"  # gateway.rights.releases: names log indexes
UNKNOWN = "-"


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a UTC hour falls in KST: its month, weekday (0 = Monday) and hour."""

    month: Month
    weekday: int
    hour: int
    night: bool


def _slot(hour_prefix: str) -> Slot:
    """`hour_prefix` is a record time cut after the hour, `YYYY-MM-DDTHH`."""
    utc = datetime(int(hour_prefix[0:4]), int(hour_prefix[5:7]), int(hour_prefix[8:10]),
                   int(hour_prefix[11:13]), tzinfo=UTC)
    local = utc.astimezone(KST)
    return Slot(Month(local.year, local.month), local.weekday(), local.hour,
                is_night(local.hour))


def is_night(hour: int) -> bool:
    return hour >= NIGHT_START_HOUR or hour < NIGHT_END_HOUR


@dataclass
class Campaign:
    """A campaign opened in the month: who, why, and what its closing record says."""

    id: str
    index: int
    time: str
    affiliate: str
    system: str
    employee: str
    purpose: str
    channel: str
    reason: str
    ticket: str
    use_by: str | None
    released: int | None = None
    sent: int | None = None
    outcome: str | None = None
    destroyed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "index": self.index, "time": self.time,
                "affiliate": self.affiliate, "system": self.system, "employee": self.employee,
                "purpose": self.purpose, "channel": self.channel, "reason": self.reason,
                "ticket": self.ticket, "use_by": self.use_by, "released": self.released,
                "sent": self.sent, "outcome": self.outcome, "destroyed": self.destroyed}


@dataclass
class MonthAggregate:
    month: Month
    history_months: tuple[Month, ...] = ()
    sensitive_attributes: frozenset[str] = frozenset()
    records_seen: int = 0
    in_month: int = 0
    accesses: int = 0
    by_affiliate: Counter[str] = field(default_factory=Counter)
    by_system: Counter[str] = field(default_factory=Counter)
    by_employee: Counter[EmployeeKey] = field(default_factory=Counter)
    by_purpose: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_decision: Counter[str] = field(default_factory=Counter)
    # the employee's accesses per system: the system they mostly use sets their peer group
    employee_systems: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    heat: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    denied_by_reason: Counter[str] = field(default_factory=Counter)
    withheld_by_reason: Counter[str] = field(default_factory=Counter)
    refused_by_problem: Counter[str] = field(default_factory=Counter)
    unauthenticated_refusals: int = 0  # of those, refusals of callers not proven
    night: Counter[EmployeeKey] = field(default_factory=Counter)
    denials: Counter[EmployeeKey] = field(default_factory=Counter)  # denials and refusals
    refusals_by_employee: Counter[EmployeeKey] = field(default_factory=Counter)
    customers: dict[EmployeeKey, DistinctCounter] = field(default_factory=dict)
    sensitive: dict[EmployeeKey, set[str]] = field(default_factory=dict)
    # history months: accesses per (employee, month) and sensitive attributes seen before
    history_volume: Counter[tuple[EmployeeKey, Month]] = field(default_factory=Counter)
    history_sensitive: dict[EmployeeKey, set[str]] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    destroyed_campaigns: set[str] = field(default_factory=set)
    exports: list[dict[str, Any]] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    # query releases of the month whose use-by day has passed by `as_of` (KST) and that no
    # destruction record names: (affiliate, purpose) → count (filled by `finish`)
    overdue_queries: Counter[tuple[str, str]] = field(default_factory=Counter)
    signoffs: list[dict[str, Any]] = field(default_factory=list)
    as_of: str = ""  # RFC 3339 UTC, the instant "past its use-by" is judged at
    _slots: dict[str, Slot] = field(default_factory=dict)
    _customer_counts: dict[EmployeeKey, int] | None = None
    _queries: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    _finished: bool = False
    # releases past their use-by, in index order (appended as read): 11 bytes each — the log
    # index, a code for (affiliate, purpose), and whether a destruction record named it
    _late_index: array[int] = field(default_factory=lambda: array("q"))
    _late_pair: array[int] = field(default_factory=lambda: array("I"))
    _late_done: bytearray = field(default_factory=bytearray)
    _pair_code: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._history = frozenset(self.history_months)
        # use-by days are KST dates (`gateway.rights.useby`): past when before as_of's day
        self._today = "" if not self.as_of else datetime.fromisoformat(
            self.as_of.replace("Z", "+00:00")).astimezone(KST).date().isoformat()

    # --- one record -----------------------------------------------------------------------
    def add(self, index: int, record: Mapping[str, Any]) -> None:
        self.records_seen += 1
        kind = record.get("kind")
        if kind == SIGNOFF_KIND:
            if record.get("month") == str(self.month):
                self.signoffs.append({"index": index, "time": record.get("time"),
                                      "reviewer": record.get("reviewer"),
                                      "comment": record.get("comment"),
                                      "digest": record.get("digest"),
                                      "tree_size": record.get("tree_size")})
            return
        if kind == "campaign.destruction":  # confirmations count whenever they came
            campaign = record.get("campaign")
            if isinstance(campaign, str):
                self.destroyed_campaigns.add(campaign)
            return
        if kind == RELEASE_DESTRUCTION_KIND:
            self._destroyed(record)
            return
        when = record.get("time")
        if not isinstance(when, str) or len(when) < 13:
            return
        slot = self._slots.get(when[:13])
        if slot is None:
            try:
                slot = _slot(when[:13])
            except ValueError:  # not an RFC 3339 time: no month to count it in
                return
            self._slots[when[:13]] = slot
        if slot.month == self.month:
            self._add_month(index, record, kind, when, slot)
        elif slot.month in self._history and kind == "query":
            self._add_history(record, slot.month)

    def _add_history(self, record: Mapping[str, Any], month: Month) -> None:
        who = _employee(record)
        if who is None:
            return
        self.history_volume[who, month] += 1
        sensitive = self._sensitive_released(record)
        if sensitive:
            self.history_sensitive.setdefault(who, set()).update(sensitive)

    def _add_month(self, index: int, record: Mapping[str, Any], kind: Any, when: str,
                   slot: Slot) -> None:
        self.in_month += 1
        self.by_kind[kind if isinstance(kind, str) else UNKNOWN] += 1
        if kind == "query":
            self._add_query(index, record, slot)
        elif kind == "refused":
            problem = record.get("problem")
            self.refused_by_problem[problem if isinstance(problem, str) else UNKNOWN] += 1
            who = _employee(record)
            if who is not None:
                self.denials[who] += 1
                self.refusals_by_employee[who] += 1
        elif kind == UNAUTHENTICATED_KIND:
            self._add_unauthenticated(record)
        elif kind in BULK_KINDS:
            self._add_bulk(index, record, kind, when)

    def _add_unauthenticated(self, record: Mapping[str, Any]) -> None:
        """A source's refusals of one minute: each problem type by its count (no employee)."""
        problems = record.get("problems")
        if not isinstance(problems, dict):
            return
        for problem, each in problems.items():
            count = each.get("count") if isinstance(each, dict) else None
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                self.refused_by_problem[problem] += count
                self.unauthenticated_refusals += count

    def _add_query(self, index: int, record: Mapping[str, Any], slot: Slot) -> None:
        # the hottest loop of a review: one call per access of the month, kept flat
        self.accesses += 1
        actor = record.get("actor")
        if isinstance(actor, dict):
            affiliate = _text(actor.get("affiliate"))
            system = _text(actor.get("system"))
            employee = _text(actor.get("employee"))
        else:
            affiliate = system = employee = UNKNOWN
        who = (affiliate, employee)
        purpose = _text(record.get("purpose"))
        decision = _text(record.get("decision"))
        # one counter for the five breakdowns (a few thousand keys); `finish` splits it
        self._queries[affiliate, system, employee, purpose, decision] += 1
        self.heat[slot.weekday][slot.hour] += 1
        if slot.night:
            self.night[who] += 1
        withheld = record.get("withheld")
        if withheld and isinstance(withheld, list):
            reasons = [_text(w.get("reason")) for w in withheld if isinstance(w, dict)]
            self.withheld_by_reason.update(reasons)
            if decision == "deny":
                self.denied_by_reason.update(set(reasons))
        customer = record.get("customer")
        if isinstance(customer, str):
            counter = self.customers.get(who)
            if counter is None:
                counter = self.customers[who] = DistinctCounter()
            counter.add_hash(hash64(customer))
        released = record.get("released")
        if released and isinstance(released, list):
            self._released(index, who, affiliate, purpose, released)

    def _released(self, index: int, who: EmployeeKey, affiliate: str, purpose: str,
                  released: list[Any]) -> None:
        """Sensitive attributes among what was released, and its use-by (one pass)."""
        sensitive = self.sensitive_attributes
        latest = ""
        for item in released:
            if not isinstance(item, dict):
                continue
            if sensitive and item.get("attribute") in sensitive:
                self.sensitive.setdefault(who, set()).add(item["attribute"])
            use_by = item.get("use_by")
            if isinstance(use_by, str) and use_by > latest:
                latest = use_by
        if latest and self._today and latest < self._today:
            code = self._pair_code.setdefault((affiliate, purpose), len(self._pair_code))
            self._late_index.append(index)
            self._late_pair.append(code)
            self._late_done.append(0)

    def _destroyed(self, record: Mapping[str, Any]) -> None:
        """A recipient's confirmation: the late releases it names, to that recipient only."""
        actor = record.get("actor")
        named = record.get("releases")
        if record.get("status") != 200 or not isinstance(actor, dict) \
                or not isinstance(named, list):
            return
        affiliate = actor.get("affiliate")
        pairs = {code: pair for pair, code in self._pair_code.items()}
        for each in named:
            if not isinstance(each, int):
                continue
            at = bisect_left(self._late_index, each)
            if at < len(self._late_index) and self._late_index[at] == each \
                    and pairs[self._late_pair[at]][0] == affiliate:
                self._late_done[at] = 1

    def _sensitive_released(self, record: Mapping[str, Any]) -> set[str]:
        released = record.get("released")
        if not self.sensitive_attributes or not isinstance(released, list):
            return set()
        return {r["attribute"] for r in released
                if isinstance(r, dict) and r.get("attribute") in self.sensitive_attributes}

    def _add_bulk(self, index: int, record: Mapping[str, Any], kind: str, when: str) -> None:
        actor = record.get("actor")
        who = actor if isinstance(actor, dict) else {}
        if kind == "campaign.open":
            cid = _text(record.get("campaign"))
            self.campaigns[cid] = Campaign(
                id=cid, index=index, time=when, affiliate=_text(who.get("affiliate")),
                system=_text(who.get("system")), employee=_text(who.get("employee")),
                purpose=_text(record.get("purpose")), channel=_text(record.get("channel")),
                reason=_text(record.get("reason")), ticket=_text(record.get("ticket")),
                use_by=record.get("use_by") if isinstance(record.get("use_by"), str) else None)
        elif kind == "campaign.close":
            found = self.campaigns.get(_text(record.get("campaign")))
            if found is not None:
                found.released = _int(record.get("released"))
                found.sent = _int(record.get("sent"))
                found.outcome = _text(record.get("outcome"))
        elif kind == "log.export":
            self.exports.append({"index": index, "time": when,
                                 "exported_by": _text(record.get("exported_by")),
                                 "selected": _int(record.get("selected")),
                                 "filters": record.get("filters")})
        elif kind == "pseudonym.map":
            self.mappings.append({"index": index, "time": when,
                                  "affiliate": _text(who.get("affiliate")),
                                  "system": _text(who.get("system")),
                                  "employee": _text(who.get("employee")),
                                  "mapped": _int(record.get("mapped"))})

    # --- after the pass -------------------------------------------------------------------
    def finish(self) -> None:
        """Split and settle what the pass gathered (once: later calls do nothing)."""
        if self._finished:
            return
        self._finished = True
        for (affiliate, system, employee, purpose, decision), n in self._queries.items():
            self.by_affiliate[affiliate] += n
            self.by_system[system] += n
            self.by_employee[affiliate, employee] += n
            self.employee_systems[affiliate, employee, system] += n
            self.by_purpose[purpose] += n
            self.by_decision[decision] += n
            if decision == "deny":
                self.denials[affiliate, employee] += n
        self._queries.clear()
        pairs = {code: pair for pair, code in self._pair_code.items()}
        for code, done in zip(self._late_pair, self._late_done, strict=True):
            if not done:
                self.overdue_queries[pairs[code]] += 1
        for cid in self.destroyed_campaigns:
            found = self.campaigns.get(cid)
            if found is not None:
                found.destroyed = True

    def overdue_campaigns(self) -> list[Campaign]:
        """Campaigns of the month past their use-by at `as_of`, destruction not confirmed."""
        return [c for c in self.campaigns.values()
                if c.use_by is not None and c.use_by < self.as_of and not c.destroyed]

    def main_system(self) -> dict[EmployeeKey, str]:
        """Each employee's most used system (ties: the smallest id), their peer group."""
        best: dict[EmployeeKey, tuple[int, str]] = {}  # (-count, system): smallest wins
        for (affiliate, employee, system), n in self.employee_systems.items():
            key = (affiliate, employee)
            candidate = (-n, system)
            if key not in best or candidate < best[key]:
                best[key] = candidate
        return {k: v[1] for k, v in best.items()}

    def customer_counts(self) -> dict[EmployeeKey, int]:
        """Distinct customers per employee (estimated once: a sketch's count is not free)."""
        if self._customer_counts is None:
            self._customer_counts = {who: c.count() for who, c in self.customers.items()}
        return self._customer_counts

    def history_of(self, who: EmployeeKey) -> list[int]:
        return [self.history_volume.get((who, m), 0) for m in self.history_months]


def _employee(record: Mapping[str, Any]) -> EmployeeKey | None:
    actor = record.get("actor")
    if not isinstance(actor, dict):
        return None
    return (_text(actor.get("affiliate")), _text(actor.get("employee")))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else UNKNOWN


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def aggregate(records: Iterable[tuple[int, Mapping[str, Any]]], month: Month, *,
              history_months: tuple[Month, ...] = (), as_of: str = "",
              sensitive: frozenset[str] = frozenset()) -> MonthAggregate:
    """The aggregate of `records` (index, record) for `month`; a convenience for tests."""
    found = MonthAggregate(month, history_months, sensitive, as_of=as_of)
    for index, record in records:
        found.add(index, record)
    found.finish()
    return found
