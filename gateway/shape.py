"""Shape step: apply the released views to the fetched values (least revealing form).

Free text (`scrubbed` views) passes the scrubber here, always; what it removed is counted per
entity kind in `Shaped.scrubbed` (never the values) for the response and the access record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from gateway.domain import AttributeId, Decision, Reason, Released, Withheld
from gateway.policy import Policy
from gateway.policy.views.scrubbed import ScrubbedView, ScrubContext


@dataclass(frozen=True, slots=True)
class Shaped:
    """What actually leaves: values in their views, and everything withheld with its reason."""

    released: tuple[tuple[Released, Any], ...]
    withheld: tuple[Withheld, ...]
    # attribute → entity kind → how many were replaced in its free text
    scrubbed: Mapping[AttributeId, Mapping[str, int]] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        if not self.released:
            return "deny"
        return "partial" if self.withheld else "allow"


def shape(policy: Policy, decision: Decision, values: Mapping[AttributeId, Any], *,
          today: date, scrub: ScrubContext | None = None) -> Shaped:
    released: list[tuple[Released, Any]] = []
    withheld = list(decision.withheld)
    scrubbed: dict[AttributeId, Mapping[str, int]] = {}
    for item in decision.released:
        attribute = policy.attributes[item.attribute]
        raw = values.get(item.attribute)
        # A yes/no view answers "no" for an absent value (no car insured → has_car false);
        # every other view has nothing to show, and says so.
        if raw is None and not attribute.views[item.view].accepts_none:
            withheld.append(Withheld(item.attribute, Reason.NO_DATA,
                                     "the owning affiliate holds no value"))
            continue
        view = attribute.views[item.view]
        if isinstance(view, ScrubbedView):
            result = view.scrub(raw, scrub)  # ScrubFailed rather than unscrubbed text
            scrubbed[item.attribute] = dict(result.counts)
            released.append((item, result.text))
            continue
        released.append((item, attribute.apply_view(item.view, raw, today=today)))
    return Shaped(released=tuple(released), withheld=tuple(withheld), scrubbed=scrubbed)
