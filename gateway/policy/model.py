"""The policy in force: immutable values built by the loader and read by the decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.domain import (
    AffiliateId,
    AttributeId,
    Category,
    Channel,
    PolicyVersion,
    PurposeId,
    SystemId,
    ViewName,
)
from gateway.errors import UnknownView
from gateway.policy.employee_ids import EmployeeIdFormat
from gateway.policy.views import JsonValue, View

Algorithm = Literal["EdDSA", "ES256"]
PublicKey = Ed25519PublicKey | EllipticCurvePublicKey
PERMISSIONS = frozenset({"query", "consent:grant", "consent:withdraw", "consent:read", "log:read",
                         "policy:reload", "policy:approve", "pseudonym:map",
                         "consent:any_customer",
                         "contact_stop:write", "contact_stop:read", "campaign:run",
                         "history:read"})
# The group customer channel: manages consents and contact stops of any group customer, not only
# those its own affiliate holds (the other consent and stop permissions still apply)
GROUP_CUSTOMER_CHANNEL = "consent:any_customer"
RECONFIRM_DAYS = 730  # 정보통신망법 제50조 ⑧: marketing consent is reconfirmed every 2 years
# 금융지주회사법 제48조의2: customer data shared inside the group for internal management without
# consent is kept at most this many days by the recipient unless an approval says otherwise
LEGAL_BASIS_48_2 = "금융지주회사법 제48조의2"
RETENTION_48_2_DAYS = 30


@dataclass(frozen=True, slots=True)
class ContactCap:
    """At most `max` contacts per customer on one channel in any `window_days` (rolling window),
    counted across every affiliate of the group (issue #10)."""

    max: int
    window_days: int


@dataclass(frozen=True, slots=True)
class ContactChannel:
    """A marketing contact channel as the policy names it, with its frequency cap if any."""

    id: Channel
    name_ko: str
    name_en: str
    cap: ContactCap | None = None


# The names used when `purposes.yaml` has no `channels:` section (every channel in force).
DEFAULT_CHANNELS: Mapping[Channel, ContactChannel] = MappingProxyType({c.id: c for c in (
    ContactChannel(Channel.AGENT_CALL, "상담원 전화", "Call by an agent"),
    ContactChannel(Channel.AUTO_CALL, "자동 전화 (ARS)", "Automated call (ARS)"),
    ContactChannel(Channel.SMS, "문자 (SMS/MMS)", "Text message (SMS/MMS)"),
    ContactChannel(Channel.EMAIL, "이메일", "E-mail"),
    ContactChannel(Channel.PUSH, "앱 푸시", "App push notification"),
    ContactChannel(Channel.POST, "우편", "Post"),
)})


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One measure's limit in its window (refused beyond it) and its alert threshold (one alert
    record per window when reached; None: no alert)."""

    limit: int
    alert: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one subject (a system as a whole, or one employee of a system); None: the
    measure is not limited (issue #12, docs/RATE-LIMITS.md)."""

    requests_per_minute: RateLimit | None = None
    customers_per_hour: RateLimit | None = None
    customers_per_day: RateLimit | None = None

    def merged(self, override: Limits) -> Limits:
        """These limits with `override`'s measures in place of theirs, measure by measure."""
        return Limits(override.requests_per_minute or self.requests_per_minute,
                      override.customers_per_hour or self.customers_per_hour,
                      override.customers_per_day or self.customers_per_day)

    @property
    def empty(self) -> bool:
        return not (self.requests_per_minute or self.customers_per_hour
                    or self.customers_per_day)


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Per system and per employee limits, resolved per system when the policy is built, so
    that a request looks its two subjects up in two dict reads."""

    systems: Mapping[SystemId, Limits] = field(default_factory=dict)  # each system's total
    employees: Mapping[SystemId, Limits] = field(default_factory=dict)  # each employee of it
    named: Mapping[tuple[SystemId, str], Limits] = field(default_factory=dict)  # by `sub`

    def for_system(self, system: SystemId) -> Limits:
        return self.systems.get(system, NO_LIMITS)

    def for_employee(self, system: SystemId, employee: str) -> Limits:
        found = self.named.get((system, employee))
        return found if found is not None else self.employees.get(system, NO_LIMITS)


@dataclass(frozen=True, slots=True)
class System:
    """A client system of an affiliate; its tokens verify with `public_key` and `algorithm` only."""

    id: SystemId
    affiliate: AffiliateId
    name_ko: str
    name_en: str
    algorithm: Algorithm
    public_key: PublicKey
    public_key_path: str  # as written in the policy, relative to the public keys dir
    permissions: frozenset[str]
    # the shape of the employee ids its tokens may name (`affiliates.yaml` `employee_id`)
    employee_ids: EmployeeIdFormat | None = None


@dataclass(frozen=True, slots=True)
class Affiliate:
    id: AffiliateId
    name_ko: str
    name_en: str
    sees_group_customers: bool  # may query customers it does not itself hold (holding only)
    systems: Mapping[SystemId, System]
    # how this recipient's pseudonyms are formed (`pseudonymizer.schemes`): `siv` (default) or
    # `ff1-13` (13 digits of the customer number, for legacy columns)
    pseudonym_scheme: str = "siv"


@dataclass(frozen=True, slots=True)
class Source:
    table: str
    column: str


@dataclass(frozen=True, slots=True)
class Attribute:
    id: AttributeId
    name_ko: str
    name_en: str
    owner: AffiliateId
    category: Category
    type: str  # text, date, amount, integer, list, records
    source: Source
    views: Mapping[ViewName, View]  # least revealing first
    # 고유식별정보 (개인정보 보호법 제24조): released in exact form only for re-identification
    unique_identifier: bool = False

    def rank(self, view: ViewName) -> int:
        """How revealing `view` is: its position in the catalogue's order (0 = least)."""
        return list(self.views).index(view)

    def apply_view(self, view: str, value: object, *, today: date) -> JsonValue:
        """Shape a fetched value; `today` is the decision date (age bands depend on it)."""
        spec = self.views.get(ViewName(view))
        if spec is None:
            raise UnknownView(f"view `{view}` is not defined for attribute `{self.id}`")
        if value is None and not spec.accepts_none:
            return None
        return spec.apply(value, today=today)


@dataclass(frozen=True, slots=True)
class HistoryExemption:
    """Uses under a purpose left out of the customer's access history, by law: the history
    counts them under this exemption instead of listing them (신용정보법 제35조)."""

    purpose: PurposeId
    legal_basis: str
    reason_ko: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class Purpose:
    id: PurposeId
    name_ko: str
    name_en: str
    legal_bases: tuple[str, ...]  # each citation as written, e.g. 신용정보법 제32조 제6항 제3호
    marketing: bool
    consent_required: bool
    notify_customer: bool
    retention_days: int
    channel: str | None  # the one contact channel a marketing consent must name
    # the only purpose kind under which a unique identifier (the RRN) may be released exact
    reidentification: bool = False
    # entity → operator for free text of this purpose (`pseudonymizer.scrub.spec`); None: defaults
    scrub: Mapping[str, Any] | None = None
    # None: its uses are listed in the customer's access history (the default)
    history_exemption: HistoryExemption | None = None
    # the approval that lets a 금융지주회사법 제48조의2 purpose keep data longer than 30 days
    # (e.g. the compliance officer's decision number); None: at most 30 days (`rights.useby`)
    approval_ref: str | None = None

    @property
    def cites_48_2(self) -> bool:
        """Whether a legal basis is 금융지주회사법 제48조의2 (internal management)."""
        return any(LEGAL_BASIS_48_2 in basis for basis in self.legal_bases)

    @property
    def legal_basis(self) -> str:
        """All citations on one line ("; "-separated), as the API and the log print them."""
        return "; ".join(self.legal_bases)


@dataclass(frozen=True, slots=True)
class Rule:
    """Grants `recipient` these attributes, in these views only, for `purpose`."""

    id: str
    description: str
    recipient: AffiliateId
    purpose: PurposeId
    systems: frozenset[SystemId] | None  # None: any system of the recipient
    attributes: Mapping[AttributeId, tuple[ViewName, ...]]

    def permits_system(self, system: SystemId) -> bool:
        return self.systems is None or system in self.systems


@dataclass(frozen=True, slots=True)
class Segment:
    """Lets `recipient` filter campaign candidates on these attributes, in these views only,
    for `purposes`; the filter values are never released unless a rule releases them."""

    id: str
    recipient: AffiliateId
    purposes: frozenset[PurposeId]
    systems: frozenset[SystemId] | None  # None: any system of the recipient
    attributes: Mapping[AttributeId, tuple[ViewName, ...]]

    def permits_system(self, system: SystemId) -> bool:
        return self.systems is None or system in self.systems


@dataclass(frozen=True, slots=True)
class ConsoleRole:
    """A role of the console's users (employees): the pages it may open, and whether signing
    in needs a second factor (TOTP, RFC 6238) besides the password."""

    id: str  # privacy_officer, auditor, call_centre_agent, inspector
    name_ko: str
    name_en: str
    second_factor: bool
    pages: frozenset[str]

    def may_open(self, page: str) -> bool:
        return page in self.pages


@dataclass(frozen=True, slots=True)
class Policy:
    version: PolicyVersion  # "sha256:" + hex over the policy files' bytes (see loader)
    affiliates: Mapping[AffiliateId, Affiliate]
    systems: Mapping[SystemId, System]
    attributes: Mapping[AttributeId, Attribute]
    purposes: Mapping[PurposeId, Purpose]
    rules: tuple[Rule, ...]  # in file order
    channels: Mapping[Channel, ContactChannel] = field(default_factory=lambda: DEFAULT_CHANNELS)
    # a marketing consent not (re)confirmed for this many days stops granting
    reconfirm_days: int = RECONFIRM_DAYS
    segments: tuple[Segment, ...] = ()  # what campaigns may filter on (rules.yaml `segments:`)
    # who may use the console and what each role may open (affiliates.yaml `console:`)
    console_roles: Mapping[str, ConsoleRole] = field(default_factory=lambda: MappingProxyType({}))
    # requests and distinct customers per system and per employee (affiliates.yaml `limits:`)
    limits: RateLimits = field(default_factory=RateLimits)

    def is_marketing(self, purpose: PurposeId) -> bool:
        found = self.purposes.get(purpose)
        return found is not None and found.marketing

    def cap_for(self, channel: str | None) -> ContactCap | None:
        """The frequency cap of a contact channel (None: the channel has none)."""
        if channel is None:
            return None
        entry = self.channels.get(channel)  # type: ignore[call-overload]  # str-valued enum keys
        return None if entry is None else entry.cap

    def filterable(self, recipient: AffiliateId, system: SystemId, purpose: PurposeId
                   ) -> dict[AttributeId, tuple[ViewName, ...]]:
        """Attribute → views the caller may filter campaign candidates on for `purpose`."""
        found: dict[AttributeId, tuple[ViewName, ...]] = {}
        for segment in self.segments:
            if segment.recipient == recipient and purpose in segment.purposes \
                    and segment.permits_system(system):
                for attribute, views in segment.attributes.items():
                    found[attribute] = tuple(dict.fromkeys(found.get(attribute, ()) + views))
        return found

    def rules_for(self, recipient: AffiliateId, purpose: PurposeId) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.recipient == recipient and r.purpose == purpose)
