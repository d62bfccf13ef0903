"""`GET /v1/catalog`: what the calling system may ask for, under the policy in force.

Everything a system can get from `POST /v1/queries` follows from the rules that grant its
affiliate attributes for a purpose (and name the system, where a rule names systems). This
lists exactly that, with the Korean and English names officers gave each item, so that a
client is built against the policy rather than against trial and error. It reveals nothing
about any customer, and the policy version it came from is in the answer.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.api.deps import CallerDep, ServicesDep
from gateway.domain import AttributeId, Category, SystemId
from gateway.policy import Policy

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


class ViewEntry(BaseModel):
    view: str
    default: bool = Field(description="the one given when a request names no view: the least "
                                      "revealing the rules allow")


class AttributeEntry(BaseModel):
    attribute: str
    name_ko: str
    name_en: str
    category: str
    views: list[ViewEntry] = Field(description="least revealing first")
    needs_consent: bool = Field(description="released only where a consent covers it")


class PurposeEntry(BaseModel):
    purpose: str
    name_ko: str
    name_en: str
    legal_basis: str
    consent_required: bool
    channel: str | None = Field(description="marketing: the contact channel consent must name")
    retention_days: int
    attributes: list[AttributeEntry]


class Catalog(BaseModel):
    system: str
    affiliate: str
    policy_version: str
    purposes: list[PurposeEntry]


def catalog_for(policy: Policy, system_id: str) -> Catalog:
    system = policy.systems[SystemId(system_id)]
    purposes = []
    for purpose in policy.purposes.values():
        granted: dict[AttributeId, set[str]] = {}
        for rule in policy.rules_for(system.affiliate, purpose.id):
            if rule.permits_system(system.id):
                for attribute_id, views in rule.attributes.items():
                    granted.setdefault(attribute_id, set()).update(views)
        if not granted:
            continue
        entries = []
        for attribute_id in sorted(granted):
            attribute = policy.attributes[attribute_id]
            allowed = [v for v in attribute.views if v in granted[attribute_id]]
            entries.append(AttributeEntry(
                attribute=attribute.id, name_ko=attribute.name_ko, name_en=attribute.name_en,
                category=attribute.category.value,
                views=[ViewEntry(view=v, default=n == 0) for n, v in enumerate(allowed)],
                needs_consent=purpose.consent_required or attribute.category is Category.SENSITIVE,
            ))
        purposes.append(PurposeEntry(
            purpose=purpose.id, name_ko=purpose.name_ko, name_en=purpose.name_en,
            legal_basis=purpose.legal_basis, consent_required=purpose.consent_required,
            channel=purpose.channel, retention_days=purpose.retention_days, attributes=entries,
        ))
    return Catalog(system=system.id, affiliate=system.affiliate, policy_version=policy.version,
                   purposes=purposes)


@router.get("", response_model=Catalog,
            summary="What the calling system may ask for: purposes, attributes and views")
async def catalog(svc: ServicesDep, caller: CallerDep) -> Catalog:
    return catalog_for(svc.policy.current, caller.system)
