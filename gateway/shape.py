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
        raw = values.get(item.attribute)
        if raw is None:
            withheld.append(Withheld(item.attribute, Reason.NO_DATA,
                                     "the owning affiliate holds no value"))
            continue
        value = policy.attributes[item.attribute].apply_view(item.view, raw, today=today)
        released.append((item, value))
    return Shaped(released=tuple(released), withheld=tuple(withheld))
