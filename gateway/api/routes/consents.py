"""Consents: grant, withdraw (effective for the very next query), reconfirm, list.

Who may call these is in the policy (`consent:grant`, `consent:withdraw`, `consent:read`). An
affiliate's customer channel manages the consents of the customers its affiliate holds; the
group customer channel (`consent:any_customer`) those of any group customer.
Consent for marketing must name the recipient affiliate and the contact channel
(금융지주회사법 제48조의2, 개인정보 보호법 제17조·제22조, 정보통신망법 제50조), record that the
customer was told of the right to refuse (개인정보 보호법 제22조 ⑤), and says whether contact
between 21:00 and 08:00 KST is allowed (정보통신망법 제50조 ③).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from anyio import to_thread
from fastapi import APIRouter, status
from fastapi.responses import HTMLResponse

from gateway import record
from gateway.api.deps import CallerDep, NowDep, RequestIdDep, ServicesDep
from gateway.api.routes.queries import customer_ref
from gateway.api.schemas import (
    ConsentConfirmIn,
    ConsentIn,
    ConsentList,
    ConsentOut,
    ConsentResult,
    CustomerOnlyIn,
    ReceiptIn,
    ReceiptOut,
)
from gateway.consents import ConsentExpiryPast, ConsentInvalid, PlannedConsent
from gateway.domain import AffiliateId, Caller, Channel, ConsentRecord, CustomerKey, PurposeId
from gateway.errors import GatewayError, NotFound, UnknownChannel
from gateway.pipeline import append_counted, record_refusal, require_permission
from gateway.policy import Policy
from gateway.policy.model import GROUP_CUSTOMER_CHANNEL
from gateway.resolve import CustomerRef, resolve
from gateway.rights.jws import verify_compact
from gateway.rights.receipt_keys import signer_for
from gateway.rights.receipts import Change, build_receipt, render_receipt_html, signed_receipt
from gateway.services import Services

router = APIRouter(prefix="/v1/consents", tags=["consents"])


class CustomerNotHeld(NotFound):
    type_slug = "customer-unknown"
    title = "customer unknown to the calling affiliate"


def managed_customer(svc: Services, caller: Caller, ref: CustomerRef) -> tuple[CustomerKey, str]:
    """The customer whose consents or contact stops the caller manages: one its affiliate holds,
    or, for the group customer channel, any customer of the group. Anyone else is not found,
    exactly like a person nobody holds."""
    policy = svc.policy.current
    system = policy.systems.get(caller.system)
    group = system is not None and GROUP_CUSTOMER_CHANNEL in system.permissions
    resolved = resolve(ref, caller, registry=svc.registry, pseudonymizer=svc.pseudonymizer,
                       sees_group_customers=group or policy.affiliates[
                           caller.affiliate].sees_group_customers)
    if not resolved.known or resolved.customer_key is None or resolved.pseudonym is None:
        raise CustomerNotHeld(f"the customer is not one `{caller.affiliate}` holds")
    return resolved.customer_key, resolved.pseudonym


def _out(consent: ConsentRecord, pseudonym: str | None, now: datetime,
         policy: Policy) -> ConsentOut:
    purpose = policy.purposes.get(consent.purpose)
    marketing = purpose is not None and purpose.marketing
    if consent.withdrawn_at is not None and consent.withdrawn_at <= now:
        state = "withdrawn"
    elif consent.expires_at is not None and consent.expires_at <= now:
        state = "expired"
    elif marketing and (not consent.refusal_right_notified or consent.last_confirmed
                        + timedelta(days=policy.reconfirm_days) <= now):
        state = "unconfirmed"
    else:
        state = "active"
    return ConsentOut(
        id=consent.id, pseudonym=pseudonym, recipient=consent.recipient, purpose=consent.purpose,
        categories=sorted(c.value for c in consent.categories), channel=consent.channel,
        granted_at=consent.granted_at, expires_at=consent.expires_at,
        withdrawn_at=consent.withdrawn_at, evidence_ref=consent.evidence_ref,
        night_contact=consent.night_contact, confirmed_at=consent.last_confirmed,
        refusal_right_notified=consent.refusal_right_notified, status=state,
    )


def _check_grant(svc: Services, body: ConsentIn, now: datetime) -> None:
    policy = svc.policy.current
    if body.recipient not in policy.affiliates:
        raise ConsentInvalid("`recipient` is not an affiliate in the policy")
    purpose = policy.purposes.get(PurposeId(body.purpose))
    if purpose is None:
        raise ConsentInvalid("`purpose` is not in the policy")
    if body.channel is not None:
        known_channel(policy, body.channel)
    if purpose.channel is not None and body.channel != purpose.channel:
        raise ConsentInvalid(
            f"purpose `{body.purpose}` needs consent for channel `{purpose.channel}`"
        )
    if purpose.channel is None and body.channel is not None:
        raise ConsentInvalid(f"purpose `{body.purpose}` has no contact channel")
    if purpose.marketing and not body.refusal_right_notified:
        raise ConsentInvalid("a marketing consent needs `refusal_right_notified: true`: the "
                             "customer must be told of the right to refuse")
    if not purpose.marketing and body.night_contact:
        raise ConsentInvalid(f"`night_contact` applies only to marketing purposes, not "
                             f"`{body.purpose}`")
    if body.expires_at is not None and body.expires_at <= now:
        raise ConsentExpiryPast("`expires_at` must be in the future")


def known_channel(policy: Policy, value: str) -> Channel:
    """The channel named `value`, or a 422 listing the channels in force (never the input)."""
    try:
        channel = Channel(value)
    except ValueError:
        channel = None
    if channel is None or channel not in policy.channels:
        known = ", ".join(f"`{c.value}`" for c in policy.channels)
        raise UnknownChannel(f"`channel` is not a contact channel of the policy (known: {known})")
    return channel


async def _recorded(svc: Services, kind: str, *, rid: str, now: datetime, caller: Caller,
                    customer: CustomerKey, consent: ConsentRecord | None = None,
                    count: int | None = None) -> int:
    fields: dict[str, object] = {}
    if consent is not None:
        fields.update(consent=consent.id, recipient=consent.recipient, purpose=consent.purpose,
                      categories=sorted(c.value for c in consent.categories),
                      channel=consent.channel, night_contact=consent.night_contact,
                      refusal_right_notified=consent.refusal_right_notified)
    if count is not None:
        fields["count"] = count
    # counted against the caller's rate limits like a query (429 and a recorded refusal)
    return await append_counted(svc, record.event_record(
        kind, request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=svc.policy.current.version, status=200, customer=customer, **fields,
    ), caller=caller, customer=customer, now=now, request_id=rid)


async def _recorded_change(
    svc: Services, kind: str, plan: Callable[[], tuple[PlannedConsent, CustomerKey, str]], *,
    rid: str, now: datetime, caller: Caller,
) -> tuple[int, ConsentRecord, str]:
    """Check a consent change, make its access record durable, and only then store it.

    INVARIANT: no consent change is stored without a durable record of who made it. If
    storing then fails, the caller gets 503 and a second record says the change was not
    stored (best effort: the log may be what failed).
    """
    try:
        planned, key, pseudonym = await to_thread.run_sync(plan)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    index = await _recorded(svc, kind, rid=rid, now=now, caller=caller, customer=key,
                            consent=planned.consent)
    try:
        consent = await to_thread.run_sync(svc.consents.apply, planned)
    except GatewayError as exc:
        with contextlib.suppress(GatewayError):
            await record.append(svc.access_log, record.event_record(
                f"{kind}.not_stored", request_id=rid, now=now, caller=caller,
                source=caller.source, policy_version=svc.policy.current.version,
                status=exc.status, customer=key, record=index, problem=exc.type_slug))
        raise
    return index, consent, pseudonym


async def _refusing(svc: Services, exc: GatewayError, rid: str, now: datetime,
                    caller: Caller) -> None:
    await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                         policy_version=svc.policy.current.version)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConsentResult,
             summary="Record a customer's consent")
async def grant(body: ConsentIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                rid: RequestIdDep) -> ConsentResult:
    def work() -> tuple[PlannedConsent, CustomerKey, str]:
        require_permission(svc.policy.current, caller, "consent:grant")
        _check_grant(svc, body, now)
        key, pseudonym = managed_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                    body.customer.pseudonym))
        planned = svc.consents.plan_grant(
            customer=key, recipient=AffiliateId(body.recipient), purpose=PurposeId(body.purpose),
            categories=frozenset(body.categories), channel=body.channel,
            expires_at=body.expires_at, evidence_ref=body.evidence_ref,
            granted_by_system=caller.system, granted_by_employee=caller.employee, now=now,
            night_contact=body.night_contact,
            refusal_right_notified=body.refusal_right_notified,
        )
        return planned, key, pseudonym

    index, consent, pseudonym = await _recorded_change(svc, "consent.grant", work, rid=rid,
                                                       now=now, caller=caller)
    return _result(svc, "consent.grant", rid, index, consent, pseudonym, now, caller)


def _result(svc: Services, change: Change, rid: str, index: int, consent: ConsentRecord,
            pseudonym: str, now: datetime, caller: Caller) -> ConsentResult:
    """The answer to a consent change: the consent as stored and its signed receipt."""
    policy = svc.policy.current
    out = _out(consent, pseudonym, now, policy)
    payload = build_receipt(policy=policy, change=change, consent=consent, status=out.status,
                            pseudonym=pseudonym, caller=caller, now=now, log_index=index,
                            log_origin=svc.settings.log_origin)
    jws = signed_receipt(payload, signer_for(svc.settings.secrets_path))
    return ConsentResult(request_id=rid, log_index=index, consent=out,
                         receipt=ReceiptOut(jws=jws, payload=payload))


@router.post("/{consent_id}/withdraw", response_model=ConsentResult,
             summary="Withdraw a consent (effective for the very next query)")
async def withdraw(consent_id: str, body: CustomerOnlyIn, svc: ServicesDep, caller: CallerDep,
                   now: NowDep, rid: RequestIdDep) -> ConsentResult:
    def work() -> tuple[PlannedConsent, CustomerKey, str]:
        require_permission(svc.policy.current, caller, "consent:withdraw")
        key, pseudonym = managed_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                    body.customer.pseudonym))
        # Another customer's consent gets the same answer as an unknown id.
        return svc.consents.plan_withdrawal(consent_id, now, customer=key), key, pseudonym

    index, consent, pseudonym = await _recorded_change(svc, "consent.withdraw", work, rid=rid,
                                                       now=now, caller=caller)
    return _result(svc, "consent.withdraw", rid, index, consent, pseudonym, now, caller)


@router.post("/{consent_id}/confirm", response_model=ConsentResult,
             summary="Record that the customer confirmed a consent again (정보통신망법 제50조 ⑧)")
async def confirm(consent_id: str, body: ConsentConfirmIn, svc: ServicesDep, caller: CallerDep,
                  now: NowDep, rid: RequestIdDep) -> ConsentResult:
    def work() -> tuple[PlannedConsent, CustomerKey, str]:
        require_permission(svc.policy.current, caller, "consent:grant")
        key, pseudonym = managed_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                    body.customer.pseudonym))
        current = svc.consents.for_customer(key)
        found = next((c for c in current if c.id == consent_id), None)
        purpose = svc.policy.current.purposes.get(found.purpose) if found else None
        if purpose is not None and purpose.marketing and not body.refusal_right_notified:
            raise ConsentInvalid("confirming a marketing consent needs "
                                 "`refusal_right_notified: true`")
        # Another customer's consent gets the same answer as an unknown id.
        planned = svc.consents.plan_confirmation(
            consent_id, now, customer=key, refusal_right_notified=body.refusal_right_notified)
        return planned, key, pseudonym

    index, consent, pseudonym = await _recorded_change(svc, "consent.confirm", work, rid=rid,
                                                       now=now, caller=caller)
    return _result(svc, "consent.confirm", rid, index, consent, pseudonym, now, caller)


@router.post("/search", response_model=ConsentList, summary="List a customer's consents")
async def search(body: CustomerOnlyIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                 rid: RequestIdDep) -> ConsentList:
    def work() -> tuple[list[ConsentRecord], CustomerKey, str]:
        require_permission(svc.policy.current, caller, "consent:read")
        key, pseudonym = managed_customer(svc, caller, customer_ref(body.customer.rrn,
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
                       consents=[_out(c, pseudonym, now, svc.policy.current)
                                 for c in consents])


@router.post("/receipts/render", response_class=HTMLResponse,
             responses={200: {"content": {"text/html": {}},
                              "description": "the receipt in Korean (English beside)"}},
             summary="Render a consent receipt as a Korean HTML page for the customer")
async def render_receipt(body: ReceiptIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                         rid: RequestIdDep) -> HTMLResponse:
    """Checks the receipt's signature with the gateway's receipt key first: only a receipt this
    gateway signed, unaltered, is rendered. Nothing is read from the stores; the rendering is
    recorded (which consent, which receipt record) like every other answer."""
    try:
        require_permission(svc.policy.current, caller, "consent:read")
        signer = signer_for(svc.settings.secrets_path)
        payload = verify_compact(body.jws, signer.public_key, kid=signer.kid)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    index = await record.append(svc.access_log, record.event_record(
        "consent.receipt.render", request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=svc.policy.current.version, status=200,
        consent=str(payload.get("record_id")), receipt_record=payload.get("log_index")))
    return HTMLResponse(render_receipt_html(payload, body.jws),
                        headers={"X-Log-Index": str(index)})
