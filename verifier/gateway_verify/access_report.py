"""`gateway-verify report`: who looked at whom, when and why, from verified records only.

Each record of the archive that touches a customer (it names one) and whose inclusion proof
holds against a checkpoint a trusted key signed is one access: when (KST in Korean), who
(affiliate, system, employee), whom (customer key), why (purpose) and the outcome
(decision). Accesses are grouped by customer, employee or system, groups in order of their
key, accesses in log order. Records that did not verify are left out and counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gateway_verify.korean import kst

BY = ("customer", "employee", "system")
_LABEL_KO = {"customer": "고객", "employee": "직원", "system": "시스템"}


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value else "-"


@dataclass(frozen=True)
class Access:
    index: int
    time: str
    affiliate: str
    system: str
    employee: str
    customer: str
    purpose: str
    decision: str
    kind: str

    @classmethod
    def of(cls, index: int, record: dict[str, Any]) -> Access | None:
        if not isinstance(record.get("customer"), str):
            return None  # not an access to one customer's data
        actor = record.get("actor")
        actor = actor if isinstance(actor, dict) else {}
        return cls(index, _text(record.get("time")), _text(actor.get("affiliate")),
                   _text(actor.get("system")), _text(actor.get("employee")),
                   record["customer"], _text(record.get("purpose")),
                   _text(record.get("decision")), _text(record.get("kind")))

    def key(self, by: str) -> str:
        if by == "customer":
            return self.customer
        if by == "employee":
            return f"{self.affiliate}/{self.employee}"
        return f"{self.affiliate}/{self.system}"


@dataclass
class AccessReport:
    by: str
    groups: dict[str, list[Access]] = field(default_factory=lambda: defaultdict(list))
    verified: int = 0  # records that verified, with or without a customer

    def add(self, index: int, record: dict[str, Any]) -> None:
        self.verified += 1
        access = Access.of(index, record)
        if access is not None:
            self.groups[access.key(self.by)].append(access)

    def lines(self, lang: str, total: int) -> list[str]:
        accesses = sum(len(g) for g in self.groups.values())
        left_out = total - self.verified
        out = []
        if lang == "en":
            out.append(f"accesses by {self.by}: {accesses:,} in {len(self.groups):,} group(s), "
                       f"from {self.verified:,} verified records ({left_out:,} not verified, "
                       "left out)")
        else:
            out.append(f"{_LABEL_KO[self.by]}별 열람: {len(self.groups):,}개 묶음에 {accesses:,}건, "
                       f"검증된 기록 {self.verified:,}건 기준 (검증되지 않은 기록 {left_out:,}건 "
                       "제외)")
        for key in sorted(self.groups):
            group = self.groups[key]
            head = f"{self.by} {key}: {len(group):,} access(es)" if lang == "en" else \
                f"{_LABEL_KO[self.by]} {key}: {len(group):,}건"
            out.append(head)
            for a in group:
                when = a.time if lang == "en" else kst(a.time)
                who = f"{a.affiliate}/{a.system}/{a.employee}"
                if lang == "en":
                    out.append(f"  {when}  {who} looked at customer {a.customer} for "
                               f"{a.purpose}: {a.decision} (log index {a.index:,}, {a.kind})")
                else:
                    out.append(f"  {when}  {who}이(가) 고객 {a.customer}을(를) 열람, 목적 "
                               f"{a.purpose}, 결정 {a.decision} (로그 색인 {a.index:,}, "
                               f"{a.kind})")
        return out
