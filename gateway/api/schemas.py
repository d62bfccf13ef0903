"""Request and response bodies of the HTTP API (published in /openapi.json)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pydantic_core import PydanticCustomError

from gateway.domain import Category, Reason
from gateway.marketing.stops import StopReason

IDENT = r"^[a-z][a-z0-9_]{0,63}$"
_IDENT = re.compile(IDENT)
AFFILIATE = r"^[a-z][a-z0-9_-]{0,31}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The notations a client sends (`YYMMDD-NNNNNNN` or the 13 digits) with a birth date that is a
# calendar day (29 February aside) and, for the 2000s digits (3, 4, 7, 8), a year already past.
# The parser accepts more (full-width digits, other separators, leap days: `pseudonymizer.rrn`);
# what no pattern can say — a leap day, the check digit, whether anyone holds the number — is
# answered with `malformed-rrn` (422) or not found (404).
_DAY = (r"(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
        r"|02(?:0[1-9]|1[0-9]|2[0-8]))")
RRN_PATTERN = (rf"^(?:[0-9]{{2}}{_DAY}-?[0125689]|(?:0[0-9]|1[0-9]|2[0-5]){_DAY}-?[3478])"
               r"[0-9]{6}$")
PSEUDONYM_PATTERN = r"^[a-z0-9_]+$"


class CustomerIn(Strict):
    """Name the customer by RRN (주민등록번호/외국인등록번호) or by your own earlier pseudonym:
    exactly one of the two, as a string (omit the other; null is not a value)."""

    # of its two properties, exactly one
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"minProperties": 1, "maxProperties": 1})

    rrn: Annotated[SecretStr | None, WithJsonSchema({
        "type": "string", "minLength": 13, "maxLength": 14, "pattern": RRN_PATTERN,
        "writeOnly": True, "description": "resident or foreigner registration number",
        "examples": ["900101-1234567"]})] = None
    pseudonym: Annotated[str | None, WithJsonSchema({
        "type": "string", "minLength": 4, "maxLength": 128, "pattern": PSEUDONYM_PATTERN,
        "description": "the pseudonym this gateway gave your affiliate"})] = Field(
        None, min_length=4, max_length=128, pattern=PSEUDONYM_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(k, "") is None for k in ("rrn", "pseudonym")):
            raise ValueError("`rrn` and `pseudonym` are strings: omit the one not given")
        return data

    @field_validator("rrn")
    @classmethod
    def _rrn_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 1 <= len(value.get_secret_value()) <= 40:
            raise ValueError("rrn must be 1 to 40 characters")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerIn:
        if (self.rrn is None) == (self.pseudonym is None):
            raise ValueError("give exactly one of `rrn` or `pseudonym`")
        return self


class AttributeIn(Strict):
    attribute: str = Field(pattern=IDENT)
    view: str | None = Field(None, pattern=IDENT, description="omit for the least revealing view")


class QueryIn(Strict):
    customer: CustomerIn
    purpose: str = Field(pattern=IDENT, description="a purpose id from the policy")
    attributes: list[Annotated[str, Field(pattern=IDENT)] | AttributeIn] = Field(
        min_length=1, max_length=64, json_schema_extra={"uniqueItems": True},
        description="each attribute once: its name (the least revealing view) or "
                    "`{attribute, view}`")

    @field_validator("attributes")
    @classmethod
    def _unique(cls, value: list[str | AttributeIn]) -> list[str | AttributeIn]:
        names = [v if isinstance(v, str) else v.attribute for v in value]
        for name in names:
            if not _is_ident(name):
                raise ValueError("attribute names are lowercase identifiers")
        if len(set(names)) != len(names):
            # its own problem type (`problems.validation_error`): no JSON Schema keyword says
            # "unique by name" across the two forms of an item
            raise PydanticCustomError("duplicate_attribute", "each attribute may be asked for once")
        return value


def _is_ident(name: str) -> bool:
    return _IDENT.fullmatch(name) is not None


class CustomerOut(BaseModel):
    pseudonym: str | None = Field(description="your affiliate's pseudonym; null when unknown")


# What a released value looks like, by the view that shaped it (`gateway/policy/views/`). The
# values are built by the views and serialized without validating them again, so this is the
# published contract only (a test checks every view's output against it).
RELEASED_VALUE_SCHEMA: dict[str, Any] = {
    "description": "the value in the released view: `boolean` → true/false (e.g. has a car "
                   "loan); `bucketed` → a band `{gte, lt}` (either bound null when open); "
                   "`generalized` → an age band `\"30-39\"`, a birth year, or an address "
                   "reduced to 시/도 or 시/군/구; `masked` → the text with characters "
                   "replaced by `*`; `topk` → the k top categories; `scrubbed` → free text "
                   "with identifiers replaced; `exact` → the attribute's own value (text, "
                   "number, boolean, ISO date, or a list or object of those); null when the "
                   "source holds nothing",
    "anyOf": [
        {"type": "boolean", "title": "boolean"},
        {"type": "object", "title": "band", "required": ["gte", "lt"],
         "additionalProperties": False,
         "properties": {"gte": {"type": ["number", "null"]}, "lt": {"type": ["number", "null"]}}},
        {"type": "integer", "title": "birth year or whole number"},
        {"type": "number", "title": "number"},
        {"type": "string", "title": "text, masked, generalized or ISO date"},
        {"type": "array", "title": "top-k or list", "items": {}},
        {"type": "object", "title": "structured exact value", "additionalProperties": True},
        {"type": "null", "title": "nothing held"},
    ],
}


class ReleasedOut(BaseModel):
    view: str
    value: Annotated[Any, WithJsonSchema(RELEASED_VALUE_SCHEMA)]
    rule: str
    consent: str | None
    scrubbed: dict[str, int] | None = Field(
        None, description="free text only: identifiers replaced, counted per entity kind",
        json_schema_extra={"examples": [{"KR_RRN": 1, "KR_PHONE": 2}]},
    )
    contact_window: str | None = Field(
        None, description="marketing only: when the customer may be contacted, e.g. "
                          "`08:00–21:00 KST` (`00:00–24:00 KST` with night consent)")
    use_by: str | None = Field(
        None, description="the KST date (YYYY-MM-DD) by which the recipient must destroy this "
                          "item: release day + the purpose's retention; confirm with "
                          "POST /v1/releases/destruction",
        json_schema_extra={"examples": ["2027-01-04"]})


class WithheldOut(BaseModel):
    attribute: str
    reason: Reason
    detail: str


class PurposeTerms(BaseModel):
    legal_basis: str
    retention_days: int = Field(description="how long the recipient may keep what it received")
    notify_customer: bool


class QueryOut(BaseModel):
    request_id: str
    log_index: int = Field(description="index of this decision's record in the access log")
    customer: CustomerOut
    purpose: str
    outcome: Literal["allow", "partial", "deny"]
    released: dict[str, ReleasedOut]
    withheld: list[WithheldOut]
    policy_version: str
    consent_ids: list[str]
    terms: PurposeTerms
    contact_window: str | None = Field(
        None, description="marketing only: the window every released item allows")


class ConsentIn(Strict):
    customer: CustomerIn
    recipient: str = Field(pattern=AFFILIATE, description="the affiliate that may receive data")
    purpose: str = Field(pattern=IDENT)
    categories: list[Category] = Field(min_length=1, max_length=5)
    channel: str | None = Field(None, pattern=IDENT,
                                description="marketing: the one contact channel consented to "
                                            "(agent_call, auto_call, sms, email, push, post)")
    expires_at: datetime | None = None
    evidence_ref: str = Field(min_length=1, max_length=200,
                              description="where the signed consent lives (form id, recording); "
                                          "never a national id number")
    night_contact: bool = Field(False, description="marketing: contact between 21:00 and 08:00 "
                                                   "KST allowed too (정보통신망법 제50조 ③)")
    refusal_right_notified: bool = Field(
        False, description="the customer was told of the right to refuse; required for "
                           "marketing (개인정보 보호법 제22조 ⑤)")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return value


class CustomerOnlyIn(Strict):
    customer: CustomerIn


class ConsentConfirmIn(Strict):
    customer: CustomerIn
    refusal_right_notified: bool = Field(
        description="the customer was told again of the right to refuse; required for marketing")


class ConsentOut(BaseModel):
    id: str
    pseudonym: str | None
    recipient: str
    purpose: str
    categories: list[str]
    channel: str | None
    granted_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    evidence_ref: str
    night_contact: bool
    confirmed_at: datetime = Field(description="last (re)confirmation; the grant at first")
    refusal_right_notified: bool
    status: Literal["active", "withdrawn", "expired", "unconfirmed"] = Field(
        description="`unconfirmed`: a marketing consent that needs reconfirmation")


class ReceiptOut(BaseModel):
    """The consent receipt (ISO/IEC TS 27560 field names), signed by the gateway."""

    jws: str = Field(description="compact JWS (EdDSA, Ed25519) over the payload's canonical "
                                 "JSON; check with `gateway-verify receipt FILE --key KEYFILE`")
    payload: dict[str, Any] = Field(description="the signed payload, decoded")
    html: str = Field("/v1/consents/receipts/render",
                      description="POST the `jws` there for the Korean rendering (text/html)")


class ConsentResult(BaseModel):
    request_id: str
    log_index: int
    consent: ConsentOut
    receipt: ReceiptOut


class ReceiptIn(Strict):
    jws: str = Field(min_length=10, max_length=32768, pattern=r"^[A-Za-z0-9_.-]+$",
                     description="a receipt's compact JWS as the gateway returned it")


class ConsentList(BaseModel):
    request_id: str
    log_index: int
    consents: list[ConsentOut]


class ContactStopIn(Strict):
    """A customer's stop on marketing contact (수신거부 / 연락중지청구, 신용정보법 제37조 ②)."""

    customer: CustomerIn
    scope: str = Field("group", pattern=AFFILIATE,
                       description="`group` (every affiliate) or the one affiliate to stop")
    channels: list[Annotated[str, Field(pattern=IDENT)]] | None = Field(
        None, min_length=1, max_length=6,
        description="the channels stopped (agent_call, auto_call, sms, email, push, post); "
                    "omit or null for every channel")
    reason: StopReason = Field(StopReason.REFUSAL,
                               description="refusal (수신거부), contact_stop_request (연락중지청구), "
                                           "complaint (민원); a code, never free text")

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(_is_ident(v) for v in value):
            raise ValueError("channels are lowercase identifiers")
        return value


class ContactStopOut(BaseModel):
    id: str
    pseudonym: str | None
    scope: str = Field(description="`group` or an affiliate id")
    channels: list[str] | None = Field(description="null: every channel")
    reason: str
    registered_at: datetime
    lifted_at: datetime | None
    status: Literal["active", "lifted"]


class ContactStopResult(BaseModel):
    request_id: str
    log_index: int
    stop: ContactStopOut


class ContactStopList(BaseModel):
    request_id: str
    log_index: int
    stops: list[ContactStopOut]


class ProofOut(BaseModel):
    tree_size: int
    hashes: list[str] = Field(description="base64 node hashes, RFC 9162 §2.1 order")


class InclusionProofOut(ProofOut):
    index: int
    leaf_hash: str


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    hashes: list[str]


class SegmentFilterIn(Strict):
    """One filter: the attribute, one of its views the policy lets you filter on, the values."""

    attribute: str = Field(pattern=IDENT)
    view: str = Field(pattern=IDENT)
    in_: list[Any] = Field(alias="in", min_length=1, max_length=64,
                           description="values as the view produces them: true/false, "
                                       "{\"gte\", \"lt\"} bands, \"30-39\", \"서울특별시\"")


class CampaignIn(Strict):
    """A campaign extraction (issue #10): purpose and channel, why, and the segment."""

    purpose: str = Field(pattern=IDENT)
    channel: str = Field(pattern=IDENT, max_length=32)
    reason: str = Field(min_length=1, max_length=500,
                        description="why: refused (never stored) if it holds a national id")
    ticket: str = Field(min_length=1, max_length=128, description="ticket or approval reference")
    segment: list[SegmentFilterIn] = Field(default_factory=list, max_length=16)
    attributes: list[Annotated[str, Field(pattern=IDENT)]] | None = Field(
                                         None, min_length=1, max_length=8,
                                         description="contact attributes; default: every one a "
                                                     "rule grants you for the purpose")
    format: Literal["ndjson", "csv"] = "ndjson"


class DestructionIn(Strict):
    """The recipient confirms it destroyed the campaign's data (use-by)."""

    reference: str = Field(min_length=1, max_length=128,
                           description="the recipient's own destruction record reference")


class ReleasesDestructionIn(Strict):
    """The recipient confirms it destroyed what it received (use-by, 개인정보 보호법 제21조):
    releases named by the log index of their access record, campaigns by id."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["log_indexes"], "properties": {"log_indexes": {"minItems": 1}}},
        {"required": ["campaign_ids"], "properties": {"campaign_ids": {"minItems": 1}}}]})

    log_indexes: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, max_length=1000,
        description="log indexes of access records that released data to your affiliate")
    campaign_ids: list[Annotated[str, Field(pattern=r"^cmp_[A-Za-z0-9_-]{1,64}$")]] = Field(
        default_factory=list, max_length=100, description="ids of your affiliate's campaigns")
    reference: str = Field(min_length=1, max_length=128,
                           description="your own destruction record reference; refused "
                                       "(never stored) if it holds a national id number")

    @model_validator(mode="after")
    def _something(self) -> ReleasesDestructionIn:
        if not self.log_indexes and not self.campaign_ids:
            raise ValueError("name at least one of `log_indexes` or `campaign_ids`")
        return self


class ReleaseOut(BaseModel):
    log_index: int
    use_by: str = Field(description="KST date the data was to be destroyed by")
    destruction_index: int | None = Field(
        description="log index of the confirmation that stands (the first one)")


class ReleasesDestructionOut(BaseModel):
    request_id: str
    log_index: int = Field(description="index of this confirmation's access record")
    releases: list[ReleaseOut]
    campaigns: list[dict[str, Any]]
