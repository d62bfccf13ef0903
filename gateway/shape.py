"""Shape step: apply the released views to the fetched values (least revealing form)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from gateway.domain import AttributeId, Decision, Reason, Released, Withheld
from gateway.policy import Policy


@dataclass(frozen=True, slots=True)
class Shaped:
    """What actually leaves: values in their views, and everything withheld with its reason."""

    released: tuple[tuple[Released, Any], ...]
    withheld: tuple[Withheld, ...]

    @property
    def outcome(self) -> str:
        if not self.released:
            return "deny"
        return "partial" if self.withheld else "allow"


def shape(policy: Policy, decision: Decision, values: Mapping[AttributeId, Any], *,
          today: date) -> Shaped:
    released: list[tuple[Released, Any]] = []
    withheld = list(decision.withheld)
    for item in decision.released:
        attribute = policy.attributes[item.attribute]
        raw = values.get(item.attribute)
        # A yes/no view answers "no" for an absent value (no car insured → has_car false);
        # every other view has nothing to show, and says so.
        if raw is None and not attribute.views[item.view].accepts_none:
            withheld.append(Withheld(item.attribute, Reason.NO_DATA,
                                     "the owning affiliate holds no value"))
            continue
        released.append((item, attribute.apply_view(item.view, raw, today=today)))
    return Shaped(released=tuple(released), withheld=tuple(withheld))
