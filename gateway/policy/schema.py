"""The four policy files' shapes, validated strictly (unknown fields and wrong types are errors).

These models check each entry on its own; references between entries and files are checked by
the loader, which then builds the immutable `model.Policy`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    model_validator,
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)

from gateway.auth.algorithms import pinned_name
from gateway.domain import Category, Channel
from gateway.policy.employee_ids import EmployeeIdFormat
from pseudonymizer.scrub.spec import parse_operators

Id = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
Text = Annotated[StrictStr, Field(min_length=1)]
Permission = Literal["query", "consent:grant", "consent:withdraw", "consent:read", "log:read",
                     "policy:reload", "policy:approve", "pseudonym:map",
                     "consent:any_customer",
                     "contact_stop:write", "contact_stop:read", "campaign:run",
                     "history:read"]
# a name from `pseudonymizer.schemes.SCHEMES`; the loader checks it against the registry
SchemeName = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _scrub_operators(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        parse_operators(value)  # InvalidOperator is a ValueError: reported with file and line
    return value


def _employee_id_format(value: str) -> str:
    EmployeeIdFormat.parse(value)  # EmployeeIdFormatInvalid is a ValueError: file and line
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- affiliates.yaml ---------------------------------------------------------------------------
class SystemSpec(_Strict):
    id: Id
    name_ko: Text
    name_en: Text
    public_key: Text  # path relative to the public keys dir
    # RFC 9864's fully specified names pin the same algorithms: `Ed25519` is `EdDSA` over
    # Ed25519 (the only curve accepted), `ESP256` is `ES256`; a token may carry either name
    algorithm: Literal["EdDSA", "ES256", "Ed25519", "ESP256"]
    permissions: tuple[Permission, ...] = Field(min_length=1)
    # the shape of the employee ids its tokens may name in `sub` (`policy.employee_ids`);
    # omitted: any employee identifier
    employee_id: Annotated[StrictStr, AfterValidator(_employee_id_format)] | None = None

    @field_validator("algorithm")
    @classmethod
    def _one_name_per_algorithm(cls, value: str) -> str:
        return str(pinned_name(value))


class AffiliateSpec(_Strict):
    id: Id
    name_ko: Text
    name_en: Text
    sees_group_customers: StrictBool
    pseudonym_scheme: SchemeName = "siv"
    systems: tuple[SystemSpec, ...] = ()


# Console roles (issue #12): a fixed vocabulary of roles and of pages; the policy says which
# pages each role may open and whether its sign-in needs a second factor (TOTP).
ConsoleRoleId = Literal["privacy_officer", "auditor", "call_centre_agent", "inspector"]
ConsolePage = Literal["home", "log", "log_export", "timeline", "review", "review_signoff",
                      "policy"]


class ConsoleRoleSpec(_Strict):
    id: ConsoleRoleId
    name_ko: Text
    name_en: Text
    second_factor: StrictBool
    pages: tuple[ConsolePage, ...] = Field(min_length=1)


class ConsoleSpec(_Strict):
    roles: list[Any] = Field(min_length=1)  # each a `ConsoleRoleSpec`, checked on its own


class AffiliatesFile(_Strict):
    affiliates: list[Any] = Field(min_length=1)
    console: Any = None  # a `ConsoleSpec`; omitted: nobody can sign in to the console
    limits: Any = None  # a `LimitsSpec`, each measure checked on its own (P070, P071)


# --- affiliates.yaml `limits:` (rate limits and alert thresholds, issue #12) ---------------------
MEASURES = ("requests_per_minute", "customers_per_hour", "customers_per_day")
LIMIT_MAX = 10_000_000


class LimitSpec(_Strict):
    """One measure: refuse beyond `limit` in a window; write one alert record at `alert`."""

    limit: StrictInt = Field(ge=1, le=LIMIT_MAX)
    alert: StrictInt | None = Field(None, ge=1, le=LIMIT_MAX)


class MeasuresSpec(_Strict):
    """Which measures apply, each optional (an omitted measure is inherited, or unlimited)."""

    requests_per_minute: Any = None
    customers_per_hour: Any = None
    customers_per_day: Any = None


class SystemLimitsSpec(_Strict):
    """One system's own limits: its total, each of its employees, named employees or jobs."""

    system: Any = None
    employee: Any = None
    employees: dict[StrictStr, Any] = {}  # `sub` → measures (names checked by the loader)


class LimitsSpec(_Strict):
    system: Any = None  # each system as a whole (all its employees together)
    employee: Any = None  # each employee (or batch job) of any system
    systems: dict[StrictStr, Any] = {}  # per system: replaces the defaults measure by measure


# --- attributes.yaml ---------------------------------------------------------------------------
class SourceSpec(_Strict):
    table: Text
    column: Text


class AttributeSpec(_Strict):
    id: Id
    name_ko: Text
    name_en: Text
    owner: Id
    category: Category
    type: Literal["text", "date", "amount", "integer", "list", "records"]
    source: SourceSpec
    views: dict[Id, dict[str, Any]] = Field(min_length=1)  # each checked against its kind
    unique_identifier: StrictBool = False  # RRN, passport, account or card number...


class AttributesFile(_Strict):
    attributes: list[Any] = Field(min_length=1)


# --- purposes.yaml -----------------------------------------------------------------------------
class HistorySpec(_Strict):
    """Whether a purpose's uses appear in the customer's access history (신용정보법 제35조).

    Hidden only where a law exempts them, named in `legal_basis`; the history still says how
    many entries it hid under this purpose and why (`reason_ko`/`reason_en`), never silently."""

    shown: StrictBool
    legal_basis: Text | None = None
    reason_ko: Text | None = None
    reason_en: Text | None = None

    @model_validator(mode="after")
    def _hidden_needs_a_law(self) -> HistorySpec:
        if not self.shown and (self.legal_basis is None or self.reason_ko is None
                               or self.reason_en is None):
            raise ValueError("a purpose hidden from the history needs `legal_basis`, "
                             "`reason_ko` and `reason_en`")
        return self


class PurposeSpec(_Strict):
    id: Id
    name_ko: Text
    name_en: Text
    legal_basis: Annotated[tuple[Text, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
    marketing: StrictBool = False
    consent_required: StrictBool
    notify_customer: StrictBool
    retention_days: StrictInt = Field(ge=1, le=3650)
    channel: Id | None = None  # a `Channel` declared under `channels:` (checked by the loader)
    # re-identification (pseudonym → RRN): the only purpose kind under which a unique identifier
    # may be released exact (개인정보 보호법 제24조의2; checked by `checks/unique_identifiers`)
    reidentification: StrictBool = False
    # free-text scrubbing: entity → operator (`pseudonymizer.scrub.spec`); omitted = defaults
    scrub: Annotated[dict[StrictStr, Any] | None, AfterValidator(_scrub_operators)] = None
    # access history (신용정보법 제35조): shown unless a law exempts this purpose's uses
    history: HistorySpec | None = None
    # approval for keeping data of a 금융지주회사법 제48조의2 purpose beyond 30 days (P057)
    approval_ref: Text | None = None


class CapSpec(_Strict):
    """At most `max` contacts per customer on the channel in any `window_days` (rolling),
    counted across every affiliate of the group."""

    max: StrictInt = Field(ge=1, le=1000)
    window_days: StrictInt = Field(ge=1, le=365)


class ChannelSpec(_Strict):
    """One contact channel of the controlled vocabulary (`domain.Channel`), named for people,
    with its frequency cap if it has one."""

    id: Channel
    name_ko: Text
    name_en: Text
    cap: Any = None  # a `CapSpec`, checked on its own (its own problem code, P036)


class MarketingSpec(_Strict):
    # 정보통신망법 제50조 ⑧: a marketing consent not reconfirmed for this many days stops granting
    reconfirm_days: StrictInt = Field(730, ge=1, le=3650)


class PurposesFile(_Strict):
    marketing: Any = None  # a `MarketingSpec`, checked on its own (every problem at once)
    channels: Any = None  # a list of `ChannelSpec`; omitted: every channel, default names
    purposes: list[Any] = Field(min_length=1)


# --- rules.yaml --------------------------------------------------------------------------------
ViewList = Annotated[tuple[Id, ...], BeforeValidator(_one_or_many), Field(min_length=1)]


class RuleSpec(_Strict):
    id: Id
    description: Text
    recipient: Id
    purpose: Id
    systems: tuple[Id, ...] | None = Field(None, min_length=1)
    attributes: dict[Id, ViewList] = Field(min_length=1)


class SegmentSpec(_Strict):
    """Which attributes, in which views, a recipient may filter campaign candidates on for
    these purposes (a filter is itself a use of data: issue #10)."""

    id: Id
    description: Text
    recipient: Id
    purposes: Annotated[tuple[Id, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
    systems: tuple[Id, ...] | None = Field(None, min_length=1)
    attributes: dict[Id, ViewList] = Field(min_length=1)


class RulesFile(_Strict):
    rules: list[Any] = Field(min_length=1)
    segments: list[Any] = []  # each a `SegmentSpec`, checked on its own
