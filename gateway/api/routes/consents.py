"""Consents: grant, withdraw (effective for the very next query), list a customer's consents.

Who may call these is in the policy (`consent:grant`, `consent:withdraw`, `consent:read`).
Consent for marketing must name the recipient affiliate and the contact channel
(금융지주회사법 제48조의2, 개인정보 보호법 제17조·제22조).
"""

from __future__ import annotations

from datetime import datetime

from anyio import to_thread
from fastapi import APIRouter, status

from gateway import record
from gateway.api.deps import CallerDep, NowDep, RequestIdDep, ServicesDep
from gateway.api.routes.queries import customer_ref
from gateway.api.schemas import ConsentIn, ConsentList, ConsentOut, ConsentResult, CustomerOnlyIn
from gateway.domain import AffiliateId, Caller, ConsentRecord, CustomerKey, PurposeId
from gateway.consents import ConsentInvalid
from gateway.errors import GatewayError, NotFound
from gateway.pipeline import record_refusal, require_permission
from gateway.resolve import CustomerRef, resolve
from gateway.services import Services

router = APIRouter(prefix="/v1/consents", tags=["consents"])


class CustomerNotHeld(NotFound):
    type_slug = "customer-unknown"
    title = "customer unknown to the calling affiliate"


def _held_customer(svc: Services, caller: Caller, ref: CustomerRef) -> tuple[CustomerKey, str]:
    policy = svc.policy.current
    resolved = resolve(ref, caller, registry=svc.registry, pseudonymizer=svc.pseudonymizer,
                       sees_group_customers=policy.affiliates[caller.affiliate].sees_group_customers)
    if not resolved.known or resolved.customer_key is None or resolved.pseudonym is None:
        raise CustomerNotHeld(f"the customer is not one `{caller.affiliate}` holds")
    return resolved.customer_key, resolved.pseudonym


def _out(consent: ConsentRecord, pseudonym: str | None, now: datetime) -> ConsentOut:
    if consent.withdrawn_at is not None and consent.withdrawn_at <= now:
        state = "withdrawn"
    elif consent.expires_at is not None and consent.expires_at <= now:
        state = "expired"
    else:
        state = "active"
    return ConsentOut(
        id=consent.id, pseudonym=pseudonym, recipient=consent.recipient, purpose=consent.purpose,
        categories=sorted(c.value for c in consent.categories), channel=consent.channel,
        granted_at=consent.granted_at, expires_at=consent.expires_at,
        withdrawn_at=consent.withdrawn_at, evidence_ref=consent.evidence_ref,
        status=state,
    )


def _check_grant(svc: Services, body: ConsentIn, now: datetime) -> None:
    policy = svc.policy.current
    if body.recipient not in policy.affiliates:
        raise ConsentInvalid(f"recipient `{body.recipient}` is not an affiliate in the policy")
    purpose = policy.purposes.get(PurposeId(body.purpose))
    if purpose is None:
        raise ConsentInvalid(f"purpose `{body.purpose}` is not in the policy")
    if purpose.channel is not None and body.channel != purpose.channel:
        raise ConsentInvalid(
            f"purpose `{body.purpose}` needs consent for channel `{purpose.channel}`"
        )
    if purpose.channel is None and body.channel is not None:
        raise ConsentInvalid(f"purpose `{body.purpose}` has no contact channel")
    if body.expires_at is not None and body.expires_at <= now:
        raise ConsentInvalid("`expires_at` must be in the future")


async def _recorded(svc: Services, kind: str, *, rid: str, now: datetime, caller: Caller,
                    customer: CustomerKey, consent: ConsentRecord | None = None,
                    count: int | None = None) -> int:
    fields: dict[str, object] = {}
    if consent is not None:
        fields.update(consent=consent.id, recipient=consent.recipient, purpose=consent.purpose,
                      categories=sorted(c.value for c in consent.categories),
                      channel=consent.channel)
    if count is not None:
        fields["count"] = count
    return await record.append(svc.access_log, record.event_record(
        kind, request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=svc.policy.current.version, status=200, customer=customer, **fields,
    ))


async def _refusing(svc: Services, exc: GatewayError, rid: str, now: datetime,
                    caller: Caller) -> None:
    await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                         policy_version=svc.policy.current.version)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConsentResult,
             summary="Record a customer's consent")
async def grant(body: ConsentIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                rid: RequestIdDep) -> ConsentResult:
    def work() -> tuple[ConsentRecord, CustomerKey, str]:
        require_permission(svc.policy.current, caller, "consent:grant")
        _check_grant(svc, body, now)
        key, pseudonym = _held_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                  body.customer.pseudonym))
        consent = svc.consents.grant(
            customer=key, recipient=AffiliateId(body.recipient), purpose=PurposeId(body.purpose),
            categories=frozenset(body.categories), channel=body.channel,
            expires_at=body.expires_at, evidence_ref=body.evidence_ref,
            granted_by_system=caller.system, granted_by_employee=caller.employee, now=now,
        )
        return consent, key, pseudonym

    try:
        consent, key, pseudonym = await to_thread.run_sync(work)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    index = await _recorded(svc, "consent.grant", rid=rid, now=now, caller=caller,
                            customer=key, consent=consent)
    return ConsentResult(request_id=rid, log_index=index, consent=_out(consent, pseudonym, now))


@router.post("/{consent_id}/withdraw", response_model=ConsentResult,
             summary="Withdraw a consent (effective for the very next query)")
async def withdraw(consent_id: str, body: CustomerOnlyIn, svc: ServicesDep, caller: CallerDep,
                   now: NowDep, rid: RequestIdDep) -> ConsentResult:
    def work() -> tuple[ConsentRecord, CustomerKey, str]:
        require_permission(svc.policy.current, caller, "consent:withdraw")
        key, pseudonym = _held_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                  body.customer.pseudonym))
        # Another customer's consent gets the same answer as an unknown id.
        return svc.consents.withdraw(consent_id, now, customer=key), key, pseudonym

    try:
        consent, key, pseudonym = await to_thread.run_sync(work)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    index = await _recorded(svc, "consent.withdraw", rid=rid, now=now, caller=caller,
                            customer=key, consent=consent)
    return ConsentResult(request_id=rid, log_index=index, consent=_out(consent, pseudonym, now))


@router.post("/search", response_model=ConsentList, summary="List a customer's consents")
async def search(body: CustomerOnlyIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                 rid: RequestIdDep) -> ConsentList:
    def work() -> tuple[list[ConsentRecord], CustomerKey, str]:
        require_permission(svc.policy.current, caller, "consent:read")
        key, pseudonym = _held_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                  body.customer.pseudonym))
        return svc.consents.for_customer(key), key, pseudonym

    try:
        consents, key, pseudonym = await to_thread.run_sync(work)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    index = await _recorded(svc, "consent.read", rid=rid, now=now, caller=caller, customer=key,
                            count=len(consents))
    return ConsentList(request_id=rid, log_index=index,
                       consents=[_out(c, pseudonym, now) for c in consents])
