"""The decision trail: what `decide` looked at for each attribute, recorded only when asked.

`decide(..., trace=DecisionTrace())` fills it in as it goes, so `policy explain` prints the
steps of the very decision the API takes instead of re-deriving them (Cedar's authorizer
likewise returns the policies that determined its answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.domain import AttributeId, ConsentId, ConsentRecord, ViewName

# Why a consent did or did not cover an attribute, in the order `decide` tests them.
COVERS = "covers"
SUPERSEDED = "superseded"  # valid too, but a more recently granted one is relied on
OTHER_RECIPIENT = "other_recipient"
OTHER_PURPOSE = "other_purpose"
CATEGORY_NOT_NAMED = "category_not_named"
OTHER_CHANNEL = "other_channel"
NOT_YET_GRANTED = "not_yet_granted"
WITHDRAWN = "withdrawn"
EXPIRED = "expired"
REFUSAL_RIGHT_NOT_NOTIFIED = "refusal_right_not_notified"  # marketing: recorded without notice
UNCONFIRMED = "unconfirmed"  # marketing: not reconfirmed within the policy's period
UNEVALUABLE = "unevaluable"  # e.g. a naive timestamp: never grants


@dataclass(frozen=True, slots=True)
class ConsentCheck:
    consent: ConsentRecord
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        c = self.consent
        return {
            "id": c.id, "verdict": self.verdict, "recipient": c.recipient, "purpose": c.purpose,
            "categories": sorted(x.value for x in c.categories), "channel": c.channel,
            "granted_at": _iso(c.granted_at), "expires_at": _iso(c.expires_at),
            "withdrawn_at": _iso(c.withdrawn_at), "confirmed_at": _iso(c.last_confirmed),
            "night_contact": c.night_contact,
            "refusal_right_notified": c.refusal_right_notified,
        }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(slots=True)
class AttributeTrace:
    attribute: AttributeId
    requested_view: ViewName | None
    granting_rules: tuple[str, ...] = ()  # rules for recipient × purpose that list it
    permitting_rules: tuple[str, ...] = ()  # of those, the ones open to the calling system
    allowed_views: tuple[ViewName, ...] = ()  # least revealing first
    view: ViewName | None = None  # the view chosen (before any consent check)
    rule: str | None = None  # the rule credited for that view
    consent_needed: str | None = None  # "purpose" or "sensitive category"; None: not needed
    consents: list[ConsentCheck] = field(default_factory=list)
    relied_on: ConsentId | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute, "requested_view": self.requested_view,
            "granting_rules": list(self.granting_rules),
            "permitting_rules": list(self.permitting_rules),
            "allowed_views": list(self.allowed_views), "view": self.view, "rule": self.rule,
            "consent_needed": self.consent_needed, "relied_on": self.relied_on,
            "consents": [c.as_dict() for c in self.consents],
        }


@dataclass(slots=True)
class DecisionTrace:
    rules: tuple[str, ...] = ()  # every rule for recipient × purpose, in file order
    attributes: list[AttributeTrace] = field(default_factory=list)
    contact_stop: str | None = None  # marketing: the stop that bars every release, if any

    def as_dict(self) -> dict[str, Any]:
        return {"rules": list(self.rules), "attributes": [a.as_dict() for a in self.attributes],
                "contact_stop": self.contact_stop}
