"""`policy explain`: the trail of one decision, taken by the same `decide` the API calls.

The customer's consents come from the gateway's store (see `gateway/cli/policy_tools.py`) or,
for a what-if run, from `--consent` options and a YAML file. Nothing here prints an RRN: the
customer is shown masked or by the caller's pseudonym.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from gateway.domain import (
    AffiliateId,
    AttributeId,
    AttributeRequest,
    Caller,
    Category,
    ConsentId,
    ConsentRecord,
    ContactStop,
    CustomerKey,
    Decision,
    DecisionRequest,
    PurposeId,
    SystemId,
    ViewName,
)
from gateway.errors import ValidationFailed
from gateway.policy.decision import decide
from gateway.policy.model import Policy
from gateway.policy.trace import DecisionTrace

WHAT_IF_CUSTOMER = CustomerKey("0" * 32)  # stands for the customer in a what-if run


class ExplainInputError(ValidationFailed):
    type_slug = "explain-input"
    title = "explain request is invalid"


# --- the request ---------------------------------------------------------------------------------
def parse_attribute(spec: str) -> AttributeRequest:
    """`name` or `name:view` (as the API's `attributes` items)."""
    attribute, _, view = spec.strip().partition(":")
    if not attribute:
        raise ExplainInputError(f"attribute spec `{spec[:60]}` names no attribute")
    return AttributeRequest(AttributeId(attribute), ViewName(view) if view else None)


def caller_for(policy: Policy, system: str, employee: str) -> Caller:
    found = policy.systems.get(SystemId(system))
    if found is None:
        raise ExplainInputError(f"unknown system `{system[:60]}`")
    return Caller(affiliate=found.affiliate, system=found.id, employee=employee,
                  token_id="policy-explain")


# --- what-if consents ---------------------------------------------------------------------------
class WhatIfConsent(BaseModel):
    """A hypothetical consent; recipient, purpose and channel default to the request's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    recipient: str | None = None
    purpose: str | None = None
    categories: list[Category] = Field(min_length=1)
    channel: str | None = None
    granted_at: AwareDatetime | None = None  # default: the decision time
    expires_at: AwareDatetime | None = None
    withdrawn_at: AwareDatetime | None = None
    confirmed_at: AwareDatetime | None = None  # default: the grant
    night_contact: bool = False
    refusal_right_notified: bool = True  # a well-formed marketing consent unless said otherwise

    def record(self, number: int, caller: Caller, policy: Policy, purpose: PurposeId,
               now: datetime) -> ConsentRecord:
        purpose_id = PurposeId(self.purpose or purpose)
        known = policy.purposes.get(purpose_id)
        channel = self.channel if self.channel is not None else (known.channel if known else None)
        return ConsentRecord(
            id=ConsentId(self.id or f"what-if-{number}"), customer=WHAT_IF_CUSTOMER,
            recipient=AffiliateId(self.recipient or caller.affiliate), purpose=purpose_id,
            categories=frozenset(self.categories), channel=channel,
            granted_at=self.granted_at or now, expires_at=self.expires_at,
            withdrawn_at=self.withdrawn_at, evidence_ref="what-if",
            night_contact=self.night_contact, confirmed_at=self.confirmed_at,
            refusal_right_notified=self.refusal_right_notified,
        )


_SHORT_KEYS = {"granted": "granted_at", "expires": "expires_at", "withdrawn": "withdrawn_at",
               "confirmed": "confirmed_at", "night": "night_contact"}


def parse_consent_option(spec: str) -> WhatIfConsent:
    """`categories=identity+contact,channel=sms,expires=2027-01-01T00:00:00+09:00,...`."""
    fields: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ExplainInputError(f"consent option part `{part[:40]}` is not `key=value`")
        key = _SHORT_KEYS.get(key.strip(), key.strip())
        fields[key] = value.strip().split("+") if key == "categories" else value.strip()
    return _validated(fields, "`--consent`")


def load_consents_file(path: Path) -> list[WhatIfConsent]:
    """A YAML file: `consents:` followed by a list of consents (or the list alone)."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ExplainInputError(f"consents file `{path}` unreadable: {type(exc).__name__}") \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ExplainInputError(f"consents file `{path}{where}` is not valid yaml") from None
    if isinstance(data, dict) and set(data) == {"consents"}:
        data = data["consents"]
    if not isinstance(data, list):
        raise ExplainInputError(f"consents file `{path}` must hold a `consents:` list")
    return [_validated(item, f"`{path}` consent {i + 1}") for i, item in enumerate(data)]


def _validated(fields: Any, where: str) -> WhatIfConsent:
    try:
        return WhatIfConsent.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "consent"
        raise ExplainInputError(f"{where}: `{loc}`: {first['msg'].lower()}") from None


def what_if_records(consents: Iterable[WhatIfConsent], caller: Caller, policy: Policy,
                    purpose: PurposeId, now: datetime) -> list[ConsentRecord]:
    return [c.record(i, caller, policy, purpose, now) for i, c in enumerate(consents, start=1)]


# --- the decision and its trail -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """How the customer was named; never the raw number."""

    given_as: str  # "rrn", "pseudonym" or "what-if"
    shown: str | None  # masked RRN or the pseudonym given
    known: bool  # the caller's affiliate may see the customer (else: customer_unknown)
    pseudonym: str | None  # the caller's pseudonym of the customer, when known

    def as_dict(self) -> dict[str, Any]:
        return {"given_as": self.given_as, "shown": self.shown, "known": self.known,
                "pseudonym": self.pseudonym}


@dataclass(frozen=True, slots=True)
class Explanation:
    policy: Policy
    policy_source: str
    caller: Caller
    purpose: PurposeId
    now: datetime
    customer: CustomerInfo
    query_permitted: bool  # the API refuses (403) before deciding when the system lacks `query`
    consents_given: int  # how many consents the decision saw
    decision: Decision
    trace: DecisionTrace
    stops_given: int = 0  # how many contact stops the decision saw (marketing purposes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": {"version": self.policy.version, "source": self.policy_source},
            "request": {"system": self.caller.system, "affiliate": self.caller.affiliate,
                        "employee": self.caller.employee, "purpose": self.purpose,
                        "at": self.now.isoformat()},
            "customer": self.customer.as_dict(),
            "query_permitted": self.query_permitted,
            "consents_seen": self.consents_given,
            "stops_seen": self.stops_given,
            "decision": self.decision.as_dict(),
            "trail": self.trace.as_dict(),
        }


def explain(policy: Policy, caller: Caller, purpose: PurposeId,
            attributes: Sequence[AttributeRequest], consents: Sequence[ConsentRecord], *,
            now: datetime, customer: CustomerInfo, policy_source: str,
            stops: Sequence[ContactStop] = ()) -> Explanation:
    """Decide exactly as the API does (`decide` with the same request), keeping the trail."""
    system = policy.systems.get(caller.system)
    trace = DecisionTrace()
    decision = decide(policy, DecisionRequest(caller=caller, purpose=purpose,
                                              attributes=tuple(attributes),
                                              customer_known=customer.known, now=now),
                      consents, stops=stops, trace=trace)
    return Explanation(policy=policy, policy_source=policy_source, caller=caller,
                       purpose=purpose, now=now, customer=customer,
                       query_permitted=system is not None and "query" in system.permissions,
                       consents_given=len(consents), decision=decision, trace=trace,
                       stops_given=len(stops))


_VERDICTS = {
    "covers": "covers it: relied on",
    "superseded": "covers it too, but a more recently granted consent is relied on",
    "other_recipient": "names another recipient",
    "other_purpose": "is for another purpose",
    "category_not_named": "does not name the category",
    "other_channel": "is for another channel",
    "not_yet_granted": "is granted only after the decision time",
    "withdrawn": "was withdrawn",
    "expired": "has expired",
    "refusal_right_not_notified": "was recorded without the notice of the right to refuse",
    "unconfirmed": "was not reconfirmed within the policy's period",
    "unevaluable": "could not be evaluated (never grants)",
}


def to_text(x: Explanation) -> str:
    """The trail for a privacy officer, one block per requested attribute."""
    purpose = x.policy.purposes[x.purpose]
    needs = "consent required" + (f" (channel `{purpose.channel}`)" if purpose.channel else "") \
        if purpose.consent_required else "no consent required (sensitive data excepted)"
    who = {"rrn": f"RRN {x.customer.shown}", "pseudonym": f"pseudonym `{x.customer.shown}`",
           "what-if": "what-if customer"}[x.customer.given_as]
    known = (f"known to `{x.caller.affiliate}`" if x.customer.known
             else f"not known to `{x.caller.affiliate}` (every attribute: customer_unknown)")
    if x.customer.pseudonym:
        known += f", pseudonym `{x.customer.pseudonym}`"
    d = x.decision
    lines = [
        f"policy    {x.policy.version} ({x.policy_source})",
        (f"request   system `{x.caller.system}` of `{x.caller.affiliate}`, employee "
        f"`{x.caller.employee}`, purpose `{x.purpose}` ({purpose.name_ko}): {needs}"),
        f"at        {x.now.isoformat()}",
        f"customer  {who}: {known}; {x.consents_given} consent(s) seen",
        "rules     " + (", ".join(f"`{r}`" for r in x.trace.rules)
                        or f"none for `{x.caller.affiliate}` × `{x.purpose}` (default deny)"),
        f"outcome   {d.outcome.value}: {len(d.released)} released, {len(d.withheld)} withheld",
    ]
    if not x.query_permitted:
        lines.append(f"WARNING   system `{x.caller.system}` lacks the `query` permission: the API "
                     "refuses this request (403) before any decision")
    if x.trace.contact_stop is not None:
        lines.append(f"stop      contact stop `{x.trace.contact_stop}` covers "
                     f"`{x.caller.affiliate}` and channel `{purpose.channel}`: it beats any "
                     "consent")
    lines += [f"error     {e}" for e in d.errors]
    released = {r.attribute: r for r in d.released}
    withheld = {w.attribute: w for w in d.withheld}
    for step in x.trace.attributes:
        lines.append("")
        if step.attribute in released:
            r = released[step.attribute]
            lines.append(f"{step.attribute}: RELEASED as `{r.view}` by rule `{r.rule}`"
                         + (f", contact {r.contact_window}" if r.contact_window else ""))
        else:
            w = withheld[step.attribute]
            lines.append(f"{step.attribute}: WITHHELD, {w.reason.value}: {w.detail}")
        if not x.customer.known:
            continue
        lines.append("  rules listing it: " + (", ".join(f"`{r}`" for r in step.granting_rules)
                                               or "none (default deny)"))
        if step.granting_rules:
            lines.append(f"  open to `{x.caller.system}`: "
                         + (", ".join(f"`{r}`" for r in step.permitting_rules) or "none"))
        if step.allowed_views:
            how = (f"`{step.requested_view}` requested" if step.requested_view
                   else "no view requested: the least revealing allowed")
            lines.append("  allowed views: " + ", ".join(f"`{v}`" for v in step.allowed_views)
                         + f" ({how})")
        if step.consent_needed:
            lines.append(f"  consent needed ({step.consent_needed}, category "
                         f"`{x.policy.attributes[step.attribute].category.value}`): "
                         + (f"relied on `{step.relied_on}`" if step.relied_on else "none covers it"))
            if not step.consents:
                lines.append("    no consent of this customer towards this recipient")
            for check in step.consents:
                c = check.consent
                lines.append(
                    f"    `{c.id}` {_VERDICTS.get(check.verdict, check.verdict)} "
                    f"[{c.recipient}, {c.purpose}, "
                    f"{'+'.join(sorted(k.value for k in c.categories))}"
                    + (f", {c.channel}" if c.channel else "")
                    + f"; granted {c.granted_at.isoformat()}"
                    + (f", expires {c.expires_at.isoformat()}" if c.expires_at else "")
                    + (f", withdrawn {c.withdrawn_at.isoformat()}" if c.withdrawn_at else "")
                    + "]")
    return "\n".join(lines) + "\n"
