"""Contact stops (수신거부 / 연락중지청구): register, lift, list — group-wide, at once.

신용정보법 제37조 ② (the customer may tell a financial company to stop contacting them for
marketing) and 정보통신망법 제50조 ② (refusal of advertising). A stop covers some channels or all,
for one affiliate or the whole group, and beats any consent from the very next query, in every
gateway process (the query path reads stops from the database, never from a cache).

Who may call: `contact_stop:write` (register, lift) and `contact_stop:read` (list), for the
customers the caller's affiliate holds — or any group customer with `consent:any_customer`
(the group customer channel). The customer is named by RRN in the body or by the caller's own
pseudonym, never in the URL. A stop is lifted only by a later request naming the same customer;
another customer's stop is not found, exactly like an unknown id.

INVARIANT: every change and every listing is an access record, durable BEFORE the change is
committed and before anything is answered (fail closed: no record, no change).
"""

from __future__ import annotations

from datetime import datetime

from anyio import to_thread
from fastapi import APIRouter, status

from gateway import record
from gateway.api.deps import CallerDep, NowDep, RequestIdDep, ServicesDep
from gateway.api.routes.consents import known_channel, managed_customer
from gateway.api.routes.queries import customer_ref
from gateway.api.schemas import (
    ContactStopIn,
    ContactStopList,
    ContactStopOut,
    ContactStopResult,
    CustomerOnlyIn,
)
from gateway.domain import AffiliateId, Caller, ContactStop, CustomerKey
from gateway.errors import GatewayError
from gateway.marketing.stops import ContactStopInvalid, StopReason, new_stop
from gateway.pipeline import append_counted, record_refusal, require_permission
from gateway.policy import Policy
from gateway.services import Services

router = APIRouter(prefix="/v1/contact-stops", tags=["contact stops"])

GROUP = "group"


def _out(stop: ContactStop, pseudonym: str, now: datetime) -> ContactStopOut:
    lifted = stop.lifted_at is not None and stop.lifted_at <= now
    return ContactStopOut(
        id=stop.id, pseudonym=pseudonym, scope=stop.scope or GROUP,
        channels=sorted(stop.channels) if stop.channels is not None else None,
        reason=stop.reason or StopReason.REFUSAL.value, registered_at=stop.registered_at,
        lifted_at=stop.lifted_at, status="lifted" if lifted else "active",
    )


def _scope(policy: Policy, value: str) -> AffiliateId | None:
    if value == GROUP:
        return None
    if AffiliateId(value) not in policy.affiliates:
        known = ", ".join(f"`{a}`" for a in policy.affiliates)
        raise ContactStopInvalid(f"`scope` must be `{GROUP}` or an affiliate of the policy "
                                 f"(known: {known})")
    return AffiliateId(value)


async def _recorded(svc: Services, kind: str, *, rid: str, now: datetime, caller: Caller,
                    customer: CustomerKey, stop: ContactStop | None = None,
                    count: int | None = None) -> int:
    fields: dict[str, object] = {}
    if stop is not None:
        fields.update(contact_stop=stop.id, scope=stop.scope or GROUP,
                      channels=sorted(stop.channels) if stop.channels is not None else None,
                      reason=stop.reason)
    if count is not None:
        fields["count"] = count
    # counted against the caller's rate limits like a query (429 and a recorded refusal)
    return await append_counted(svc, record.event_record(
        kind, request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=svc.policy.current.version, status=200, customer=customer, **fields,
    ), caller=caller, customer=customer, now=now, request_id=rid)


async def _refusing(svc: Services, exc: GatewayError, rid: str, now: datetime,
                    caller: Caller) -> None:
    await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                         policy_version=svc.policy.current.version)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ContactStopResult,
             summary="Register a contact stop (수신거부): effective for the very next query")
async def register(body: ContactStopIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                   rid: RequestIdDep) -> ContactStopResult:
    def prepare() -> tuple[ContactStop, str]:
        policy = svc.policy.current
        require_permission(policy, caller, "contact_stop:write")
        scope = _scope(policy, body.scope)
        channels = None
        if body.channels is not None:
            channels = [known_channel(policy, c).value for c in body.channels]
        key, pseudonym = managed_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                    body.customer.pseudonym))
        return new_stop(customer=key, scope=scope, channels=channels,
                        reason=body.reason, now=now), pseudonym

    try:
        stop, pseudonym = await to_thread.run_sync(prepare)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    # INVARIANT: the record is durable before the stop is committed (fail closed).
    index = await _recorded(svc, "contact_stop.register", rid=rid, now=now, caller=caller,
                            customer=stop.customer, stop=stop)
    stored = await to_thread.run_sync(
        lambda: svc.contact_stops.register(stop, system=caller.system, employee=caller.employee))
    return ContactStopResult(request_id=rid, log_index=index, stop=_out(stored, pseudonym, now))


@router.post("/{stop_id}/lift", response_model=ContactStopResult,
             summary="Lift a contact stop, on a later request for the same customer")
async def lift(stop_id: str, body: CustomerOnlyIn, svc: ServicesDep, caller: CallerDep,
               now: NowDep, rid: RequestIdDep) -> ContactStopResult:
    def prepare() -> tuple[ContactStop, str]:
        require_permission(svc.policy.current, caller, "contact_stop:write")
        key, pseudonym = managed_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                    body.customer.pseudonym))
        # Another customer's stop gets the same answer as an unknown id.
        stop = svc.contact_stops.get(stop_id, customer=key)
        if stop.lifted_at is None and now <= stop.registered_at:
            raise ContactStopInvalid("a stop can be lifted only by a request made after it "
                                     "was registered")
        return stop, pseudonym

    try:
        stop, pseudonym = await to_thread.run_sync(prepare)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    # INVARIANT: the record is durable before the lift is committed (fail closed).
    index = await _recorded(svc, "contact_stop.lift", rid=rid, now=now, caller=caller,
                            customer=stop.customer, stop=stop)
    lifted = await to_thread.run_sync(lambda: svc.contact_stops.lift(
        stop.id, now, customer=stop.customer, system=caller.system, employee=caller.employee))
    return ContactStopResult(request_id=rid, log_index=index, stop=_out(lifted, pseudonym, now))


@router.post("/search", response_model=ContactStopList,
             summary="List a customer's contact stops (lifted ones included)")
async def search(body: CustomerOnlyIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                 rid: RequestIdDep) -> ContactStopList:
    def work() -> tuple[list[ContactStop], CustomerKey, str]:
        require_permission(svc.policy.current, caller, "contact_stop:read")
        key, pseudonym = managed_customer(svc, caller, customer_ref(body.customer.rrn,
                                                                    body.customer.pseudonym))
        return svc.contact_stops.for_customer(key), key, pseudonym

    try:
        stops, key, pseudonym = await to_thread.run_sync(work)
    except GatewayError as exc:
        await _refusing(svc, exc, rid, now, caller)
        raise
    # INVARIANT: the listing is on record before anything of it is answered.
    index = await _recorded(svc, "contact_stop.read", rid=rid, now=now, caller=caller,
                            customer=key, count=len(stops))
    return ContactStopList(request_id=rid, log_index=index,
                           stops=[_out(s, pseudonym, now) for s in stops])
