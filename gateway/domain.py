"""Value types shared by the steps of the request path (no I/O here)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NewType

CustomerKey = NewType("CustomerKey", str)
"""Group-internal customer key: 32 lowercase hex chars (16 random bytes). Never an RRN."""

AffiliateId = NewType("AffiliateId", str)
SystemId = NewType("SystemId", str)
PurposeId = NewType("PurposeId", str)
AttributeId = NewType("AttributeId", str)
ViewName = NewType("ViewName", str)
ConsentId = NewType("ConsentId", str)
PolicyVersion = NewType("PolicyVersion", str)
"""`sha256:` + hex digest over the canonical content of every policy file."""


class Category(str, enum.Enum):
    """Attribute categories (DESIGN: identity, contact, financial, behavioural, sensitive)."""

    IDENTITY = "identity"
    CONTACT = "contact"
    FINANCIAL = "financial"
    BEHAVIOURAL = "behavioural"
    SENSITIVE = "sensitive"


class Reason(str, enum.Enum):
    """Stable, machine-readable reasons for withholding an attribute (part of the API contract)."""

    NO_RULE = "no_rule"  # no rule grants this attribute to this recipient for this purpose
    SYSTEM_NOT_PERMITTED = "system_not_permitted"  # a rule exists but not for the calling system
    VIEW_NOT_ALLOWED = "view_not_allowed"  # the requested view is wider than the rule allows
    NO_CONSENT = "no_consent"  # consent required and none covers it
    CONSENT_WITHDRAWN = "consent_withdrawn"  # the covering consent was withdrawn
    CONSENT_EXPIRED = "consent_expired"  # the covering consent has expired
    CUSTOMER_UNKNOWN = "customer_unknown"  # the recipient does not hold this customer (or nobody does)
    NO_DATA = "no_data"  # allowed, but the owning affiliate holds no value


class Outcome(str, enum.Enum):
    ALLOW = "allow"  # everything requested was released
    PARTIAL = "partial"  # some released, some withheld
    DENY = "deny"  # nothing released


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the output of the authenticate step."""

    affiliate: AffiliateId
    system: SystemId
    employee: str  # JWT `sub`: the employee or batch job behind the call
    token_id: str  # JWT `jti`
    source: str | None = None  # client address as seen by the gateway


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent as stored; the decision reads these, it never queries a store itself."""

    id: ConsentId
    customer: CustomerKey
    recipient: AffiliateId
    purpose: PurposeId
    categories: frozenset[Category]
    channel: str | None  # contact channel for marketing purposes (sms, email, phone, app_push, mail)
    granted_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    evidence_ref: str


@dataclass(frozen=True, slots=True)
class AttributeRequest:
    attribute: AttributeId
    view: ViewName | None = None  # None: the least revealing view the rule allows


@dataclass(frozen=True, slots=True)
class Released:
    attribute: AttributeId
    view: ViewName
    rule: str  # id of the rule that granted it
    consent: ConsentId | None  # consent relied on, when the purpose or category needs one


@dataclass(frozen=True, slots=True)
class Withheld:
    attribute: AttributeId
    reason: Reason
    detail: str = ""  # one line, lowercase, for humans; never a value or an identifier


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided for one request: a value, printed the same by API, log and CLI."""

    released: tuple[Released, ...]
    withheld: tuple[Withheld, ...]
    policy_version: PolicyVersion
    purpose: PurposeId
    consent_ids: tuple[ConsentId, ...] = ()
    rule_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # problems met on the way (a rule that errors never grants)

    @property
    def outcome(self) -> Outcome:
        if not self.released:
            return Outcome.DENY
        return Outcome.PARTIAL if self.withheld else Outcome.ALLOW

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "purpose": self.purpose,
            "policy_version": self.policy_version,
            "released": [
                {"attribute": r.attribute, "view": r.view, "rule": r.rule, "consent": r.consent}
                for r in self.released
            ],
            "withheld": [
                {"attribute": w.attribute, "reason": w.reason.value, "detail": w.detail}
                for w in self.withheld
            ],
            "consent_ids": list(self.consent_ids),
            "rule_ids": list(self.rule_ids),
            "errors": list(self.errors),
        }


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """Everything the pure decision needs about the request itself."""

    caller: Caller
    purpose: PurposeId
    attributes: tuple[AttributeRequest, ...]
    customer_known: bool  # False: every attribute is withheld as customer_unknown
    now: datetime  # passed in: the decision never reads a clock
    extra: dict[str, Any] = field(default_factory=dict)
