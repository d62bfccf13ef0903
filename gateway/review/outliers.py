"""Employees who stand out in a month, each with the reasons why (deterministic, bilingual).

Six checks, each a rule with a documented threshold (`Thresholds`); an employee is listed
when at least one fires, with every reason that fired:

- `volume_history`: this month's accesses against their own previous months (the median of
  the history months, counting a month without accesses as 0): at least `history_ratio` times
  it and `min_volume` accesses. An employee with no history is not judged on this.
- `volume_peers`: the robust (modified) z-score of their accesses among their peers (the
  employees whose main system is the same; with fewer than `min_peers`, the affiliate's,
  then everyone). Iglewicz & Hoaglin, "How to Detect and Handle Outliers" (ASQC Basic
  References in Quality Control 16, 1993): M = 0.6745 · (x − median) / MAD, an outlier when
  M > 3.5 — and, so that a tiny spread does not flag a busy week, at least `peer_ratio`
  times the peers' median. When MAD is 0 (more than half the peers at the same value) the
  mean absolute deviation stands in: M = (x − median) / (1.253314 · meanAD).
- `distinct_customers`: the same robust score over distinct customers looked at
  (`min_customers` at least).
- `night`: accesses between 21:00 and 08:00 KST: at least `night_min` and `night_share` of
  their accesses.
- `sensitive_first`: a sensitive attribute (policy category `sensitive`, 개인정보 보호법
  제23조 민감정보) released to them this month that none of their history months shows.
- `denials`: denials and refusals: at least `denials_min` and `denial_share` of their requests.

Scores are printed as decimal strings, so a review's JSON (and its digest) is exact.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from gateway.review.aggregate import EmployeeKey, MonthAggregate

MAD_SCALE = 0.6745  # Φ⁻¹(0.75): makes the MAD comparable to a standard deviation
MEAN_AD_SCALE = 1.253314  # √(π/2): the same for the mean absolute deviation


@dataclass(frozen=True)
class Thresholds:
    modified_z: float = 3.5  # Iglewicz & Hoaglin's recommended cut-off
    # and at least twice the peers' median: in a small, uniform group the MAD is tiny and a
    # busy week scores high without being worth anyone's time
    peer_ratio: float = 2.0
    min_peers: int = 5  # a peer group smaller than this is too small to score against
    min_volume: int = 100  # volume reasons need at least this many accesses in the month
    history_ratio: float = 3.0  # this month ≥ 3 × the median of their history months
    min_customers: int = 50
    night_min: int = 20
    night_share: float = 0.3
    denials_min: int = 20
    denial_share: float = 0.2

    def as_json(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Reason:
    code: str
    value: str  # the measured figure, as printed
    limit: str  # the threshold it crossed
    ko: str
    en: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Outlier:
    affiliate: str
    employee: str
    system: str
    accesses: int
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, object]:
        return {"affiliate": self.affiliate, "employee": self.employee, "system": self.system,
                "accesses": self.accesses, "reasons": [r.as_json() for r in self.reasons]}


def modified_z(x: float, values: Sequence[float]) -> float | None:
    """Iglewicz & Hoaglin's modified z-score of `x` among `values` (None: no spread at all)."""
    median = statistics.median(values)
    mad = statistics.median([abs(v - median) for v in values])
    if mad > 0:
        return MAD_SCALE * (x - median) / mad
    mean_ad = statistics.fmean([abs(v - median) for v in values])
    if mean_ad > 0:
        return (x - median) / (MEAN_AD_SCALE * mean_ad)
    return None


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def find_outliers(agg: MonthAggregate, limits: Thresholds = Thresholds()) -> list[Outlier]:
    """Every employee with at least one reason, most reasons first, then most accesses."""
    main = agg.main_system()
    customers = agg.customer_counts()
    groups = _peer_groups(main, limits.min_peers)
    found: list[Outlier] = []
    for who in sorted(agg.by_employee):
        volume = agg.by_employee[who]
        peers = groups[who]
        reasons = [
            *_volume_history(agg, who, volume, limits),
            *_robust(who, volume, peers, {p: agg.by_employee[p] for p in peers}, limits,
                     "volume_peers", limits.min_volume, "접근 건수", "accesses"),
            *_robust(who, customers.get(who, 0), peers, {p: customers.get(p, 0) for p in peers},
                     limits, "distinct_customers", limits.min_customers, "조회한 고객 수",
                     "distinct customers"),
            *_night(agg, who, volume, limits),
            *_sensitive_first(agg, who),
            *_denials(agg, who, volume, limits),
        ]
        if reasons:
            found.append(Outlier(who[0], who[1], main.get(who, "-"), volume, tuple(reasons)))
    found.sort(key=lambda o: (-len(o.reasons), -o.accesses, o.affiliate, o.employee))
    return found


def _peer_groups(main: Mapping[EmployeeKey, str], min_peers: int
                 ) -> dict[EmployeeKey, list[EmployeeKey]]:
    by_system: dict[str, list[EmployeeKey]] = {}
    by_affiliate: dict[str, list[EmployeeKey]] = {}
    for who, system in main.items():
        by_system.setdefault(system, []).append(who)
        by_affiliate.setdefault(who[0], []).append(who)
    everyone = sorted(main)
    groups: dict[EmployeeKey, list[EmployeeKey]] = {}
    for who, system in main.items():
        for candidate in (by_system[system], by_affiliate[who[0]], everyone):
            if len(candidate) >= min_peers:
                groups[who] = candidate
                break
        else:
            groups[who] = []
    return groups


def _volume_history(agg: MonthAggregate, who: EmployeeKey, volume: int,
                    limits: Thresholds) -> list[Reason]:
    history = agg.history_of(who)
    if not any(history) or volume < limits.min_volume:
        return []
    median = statistics.median(history)
    if median <= 0:  # active in fewer than half the history months: compare with the mean
        median = statistics.fmean(history)
    ratio = volume / median
    if ratio < limits.history_ratio:
        return []
    return [Reason(
        "volume_history", _fmt(ratio), _fmt(limits.history_ratio),
        f"이번 달 접근 {volume:,}건: 지난 {len(history)}개월 중앙값 {median:,.0f}건의 "
        f"{ratio:.1f}배 (기준 {limits.history_ratio:.1f}배 이상)",
        f"{volume:,} accesses this month: {ratio:.1f} times the median of the previous "
        f"{len(history)} months ({median:,.0f}; threshold {limits.history_ratio:.1f}×)")]


def _robust(who: EmployeeKey, value: int, peers: Sequence[EmployeeKey],
            values: Mapping[EmployeeKey, int], limits: Thresholds, code: str, minimum: int,
            what_ko: str, what_en: str) -> list[Reason]:
    if len(peers) < limits.min_peers or value < minimum:
        return []
    median = statistics.median(values[p] for p in peers)
    if value < limits.peer_ratio * median:
        return []
    score = modified_z(value, [values[p] for p in peers])
    if score is None or score <= limits.modified_z:
        return []
    return [Reason(
        code, _fmt(score), _fmt(limits.modified_z),
        f"{what_ko} {value:,}: 동료 {len(peers)}명의 중앙값 {median:,.0f} 대비 수정 z-점수 "
        f"{score:.1f} (기준 {limits.modified_z}, Iglewicz·Hoaglin)",
        f"{value:,} {what_en}: modified z-score {score:.1f} against {len(peers)} peers "
        f"(median {median:,.0f}; threshold {limits.modified_z}, Iglewicz & Hoaglin)")]


def _night(agg: MonthAggregate, who: EmployeeKey, volume: int,
           limits: Thresholds) -> list[Reason]:
    night = agg.night.get(who, 0)
    if night < limits.night_min or volume == 0 or night / volume < limits.night_share:
        return []
    share = night / volume
    return [Reason(
        "night", _pct(share), _pct(limits.night_share),
        f"야간(21:00–08:00 KST) 접근 {night:,}건, 전체의 {share:.0%} "
        f"(기준 {limits.night_min}건 이상이면서 {limits.night_share:.0%} 이상)",
        f"{night:,} accesses at night (21:00–08:00 KST), {share:.0%} of theirs "
        f"(threshold {limits.night_min} and {limits.night_share:.0%})")]


def _sensitive_first(agg: MonthAggregate, who: EmployeeKey) -> list[Reason]:
    new = sorted(agg.sensitive.get(who, set()) - agg.history_sensitive.get(who, set()))
    if not new:
        return []
    names = ", ".join(f"`{a}`" for a in new)
    months = len(agg.history_months)
    return [Reason(
        "sensitive_first", ",".join(new), "0",
        f"민감정보 {names}에 처음 접근 (지난 {months}개월에는 없음)",
        f"first access to sensitive attribute(s) {names} (none in the previous {months} "
        "months)")]


def _denials(agg: MonthAggregate, who: EmployeeKey, volume: int,
             limits: Thresholds) -> list[Reason]:
    denied = agg.denials.get(who, 0)
    requests = volume + agg.refusals_by_employee.get(who, 0)  # queries and refused requests
    if denied < limits.denials_min or requests == 0 or denied / requests < limits.denial_share:
        return []
    share = denied / requests
    return [Reason(
        "denials", _pct(share), _pct(limits.denial_share),
        f"거부·거절 {denied:,}건, 요청의 {share:.0%} (기준 {limits.denials_min}건 이상이면서 "
        f"{limits.denial_share:.0%} 이상)",
        f"{denied:,} denials and refusals, {share:.0%} of their requests "
        f"(threshold {limits.denials_min} and {limits.denial_share:.0%})")]

