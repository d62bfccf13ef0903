"""What the shape step needs to scrub a query's free text: names, operators, pseudonyms.

The customer's own names are read from the attributes a `scrubbed` view names (`names_from`)
— read to find them in the text, never released. A resident number found in the text becomes
the recipient's pseudonym of that customer when the recipient may see that customer (the
same test as the resolve step), else a placeholder: a memo never tells a recipient that a
person is a customer of another affiliate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.domain import AttributeId, Caller, Decision, PurposeId
from gateway.policy import Policy
from gateway.policy.model import Attribute
from gateway.policy.views.scrubbed import ScrubbedView, ScrubContext, ScrubFailed, shared_scrubber
from gateway.services import Services
from pseudonymizer.rrn import InvalidNationalId, parse_national_id

__all__ = ["name_sources", "scrub_context"]


def name_sources(policy: Policy, decision: Decision) -> list[Attribute]:
    """The attributes holding the customer's names, for the released `scrubbed` views."""
    wanted: dict[str, None] = {}
    for item in decision.released:
        view = policy.attributes[item.attribute].views[item.view]
        if isinstance(view, ScrubbedView):
            wanted.update(dict.fromkeys(view.names_from))
    missing = [a for a in wanted if AttributeId(a) not in policy.attributes]
    if missing:  # fail closed: scrubbing without the names would leak them
        raise ScrubFailed(f"`names_from` names unknown attribute `{missing[0]}`")
    return [policy.attributes[AttributeId(a)] for a in wanted]


def scrub_context(svc: Services, policy: Policy, caller: Caller, purpose: PurposeId,
                  values: Mapping[AttributeId, Any], names_from: list[Attribute]) -> ScrubContext:
    names = tuple(v for a in names_from if isinstance(v := values.get(a.id), str) and v.strip())
    sees_all = policy.affiliates[caller.affiliate].sees_group_customers

    def pseudonym(text: str) -> str | None:
        try:
            nid = parse_national_id(text)
        except InvalidNationalId:
            return None  # masked or mistyped: nothing to resolve, the placeholder stands
        key = svc.registry.lookup(nid.digits)
        if key is None or not (sees_all or svc.registry.holds(key, caller.affiliate)):
            return None
        return svc.pseudonymizer.pseudonym(key, caller.affiliate)

    return ScrubContext(scrubber=shared_scrubber(), names=names,
                        operators=policy.purposes[purpose].scrub, pseudonym=pseudonym)
