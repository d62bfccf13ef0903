"""The request path, top to bottom: authenticate → resolve → decide → fetch → shape → record.

`handle_query` is the one function to read to see where the policy, the consent and the log
come in. Authentication happens just before it (the API's dependency hands over `Caller`);
responding happens just after it (the route turns `QueryResult` into JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from gateway import record
from gateway.accesslog.errors import ContactCapReached
from gateway.accesslog.log import TokenClaim
from gateway.auth.token_ids import VerifiedCaller
from gateway.domain import (
    AttributeRequest,
    Caller,
    ConsentRecord,
    ContactStop,
    CustomerKey,
    Decision,
    DecisionRequest,
    PurposeId,
)
from gateway.errors import Forbidden, GatewayError, TokenReplayed
from gateway.fetch import fetch
from gateway.marketing.caps import contact_claims
from gateway.policy import Policy, decide
from gateway.ratelimits import RateLimited, refuse_early, remember, usage_for
from gateway.reidentify import from_vault, national_ids
from gateway.resolve import CustomerRef, Resolved, resolve
from gateway.rights.useby import use_by_text
from gateway.scrubbing import name_sources, scrub_context
from gateway.services import Services
from gateway.shape import Shaped, shape

KST = ZoneInfo("Asia/Seoul")  # ages and dates are reckoned as the customer's calendar has them


@dataclass(frozen=True, slots=True)
class QueryResult:
    request_id: str
    log_index: int
    pseudonym: str | None
    decision: Decision
    shaped: Shaped
    policy: Policy
    use_by: str | None = None  # KST date every released item must be destroyed by


def require_permission(policy: Policy, caller: Caller, permission: str) -> None:
    system = policy.systems.get(caller.system)
    if system is None or permission not in system.permissions:
        raise Forbidden(f"system `{caller.system}` lacks the `{permission}` permission")


def _decide_and_fetch(
    svc: Services, policy: Policy, caller: Caller, ref: CustomerRef, purpose: PurposeId,
    wanted: Sequence[AttributeRequest], now: datetime, contacts: int = 0,
) -> tuple[Resolved, Decision, Shaped]:
    """The synchronous middle of the path: indexed reads and pure steps (`Services.run_reads`).

    A replayed token is refused when its id is claimed, in the record's commit: it may cost
    this work, but nothing is released for it. `contacts`: the customer's contacts on the
    purpose's channel in its cap's window, as the log writer counted them (0 at first: the
    writer's count under its lock is the one that holds)."""
    require_permission(policy, caller, "query")
    # resolve: RRN or pseudonym → customer key (and whether this caller may see the customer)
    resolved = resolve(
        ref, caller, registry=svc.registry, pseudonymizer=svc.pseudonymizer,
        sees_group_customers=policy.affiliates[caller.affiliate].sees_group_customers, now=now,
    )
    # decide: policy × purpose × the customer's consents towards this recipient (pure)
    # × for marketing, the customer's contact stops (수신거부), which beat any consent,
    # × the channel's frequency cap (`contacts` so far)
    consents: list[ConsentRecord] = []
    stops: list[ContactStop] = []
    if resolved.known and resolved.customer_key is not None:
        consents = svc.consents.for_customer(resolved.customer_key, recipient=caller.affiliate)
        if policy.is_marketing(purpose):  # other purposes skip the read
            stops = svc.contact_stops.active_for(resolved.customer_key, now)
    decision = decide(
        policy,
        DecisionRequest(caller=caller, purpose=purpose, attributes=tuple(wanted),
                        customer_known=resolved.known, now=now),
        consents, stops=stops, contacts=contacts,
    )
    # fetch: only the released attributes, one indexed look-up per owning affiliate (plus the
    # customer's names when free text is released: read to scrub them out, never released)
    values: dict[Any, Any] = {}
    names_from = name_sources(policy, decision)
    if decision.released and resolved.customer_key is not None:
        attributes = [policy.attributes[item.attribute] for item in decision.released
                      if not from_vault(policy, item)]
        attributes += [a for a in names_from if a not in attributes]
        values = fetch(svc.affiliates, attributes, resolved.customer_key)
        # re-identification: an exact national id is decrypted from the gateway's own registry,
        # only under a re-identification purpose and for a customer named by pseudonym
        values.update(national_ids(policy, decision, ref, resolved.customer_key,
                                   engine=svc.gateway_engine, vault=svc.vault))
    # shape: each value in the least revealing view the rule allows; free text scrubbed
    scrub = scrub_context(svc, policy, caller, purpose, values, names_from) if names_from else None
    shaped = shape(policy, decision, values, today=now.astimezone(KST).date(), scrub=scrub)
    return resolved, decision, shaped


async def handle_query(
    svc: Services, verified: VerifiedCaller, ref: CustomerRef, purpose: PurposeId,
    wanted: Sequence[AttributeRequest], *, now: datetime, request_id: str,
) -> QueryResult:
    caller = verified.caller
    policy = svc.policy.current  # one policy version for the whole request
    # the token id rides with the access record (one commit), unless kept in its own database
    token = verified.claim if svc.token_ids.ride_with_records else None
    try:
        if token is None:
            await svc.token_ids.claim(verified)
        refuse_early(policy, caller, now.timestamp())  # a window already full: no work for it
        resolved, decision, shaped = await svc.run_reads(
            _decide_and_fetch, svc, policy, caller, ref, purpose, wanted, now)
        # record: durable BEFORE release; a marketing contact is counted against the channel's
        # cap in the same commit, and beyond it the record is refused: decide again at the cap.
        # The request and its customer are counted against the system's and the employee's
        # rate limits in that commit too; beyond one the record is refused (429, recorded).
        # INVARIANT: a record is durable before any byte of the response is sent.
        customer = resolved.customer_key if resolved.known else None
        # use-by: release day (KST) + the purpose's retention, from a per-day table
        use_by = use_by_text(policy, decision.purpose, now) if shaped.released else None
        usage = usage_for(policy, caller, customer, now.timestamp(), request_id)
        try:
            index = await record.append(svc.access_log, record.query_record(
                request_id=request_id, now=now, caller=caller, source=caller.source,
                customer=customer, requested=wanted, decision=decision, shaped=shaped,
                use_by=use_by,
            ), token=token, contacts=contact_claims(policy, decision, customer, now),
                usage=usage)
        except ContactCapReached as full:
            resolved, decision, shaped = await svc.run_reads(
                _decide_and_fetch, svc, policy, caller, ref, purpose, wanted, now,
                max(full.counts.values()))
            use_by = use_by_text(policy, decision.purpose, now) if shaped.released else None
            index = await record.append(svc.access_log, record.query_record(
                request_id=request_id, now=now, caller=caller, source=caller.source,
                customer=customer, requested=wanted, decision=decision, shaped=shaped,
                use_by=use_by,
            ), token=token, usage=usage)
    except GatewayError as exc:
        if isinstance(exc, RateLimited):
            remember(policy, exc)
        # a refused request uses up its token too: the refusal claims the id in its commit
        claim = None if isinstance(exc, TokenReplayed) else token
        try:
            await record_refusal(svc, exc, request_id=request_id, now=now, caller=caller,
                                 policy_version=policy.version, token=claim)
        except TokenReplayed as replay:  # the token had been used before: that is the answer
            await record_refusal(svc, replay, request_id=request_id, now=now, caller=caller,
                                 policy_version=policy.version)
            raise replay from None
        raise
    return QueryResult(request_id=request_id, log_index=index, pseudonym=resolved.pseudonym,
                       decision=decision, shaped=shaped, policy=policy, use_by=use_by)


async def append_counted(svc: Services, event: dict[str, Any], *, caller: Caller,
                         customer: CustomerKey, now: datetime, request_id: str) -> int:
    """Append the record of a request about one customer (a consent or contact-stop read or
    change), counted against the caller's rate limits in its commit like a query; beyond a
    limit nothing is written but the refusal, and `RateLimited` (429) is raised."""
    policy = svc.policy.current
    usage = usage_for(policy, caller, customer, now.timestamp(), request_id)
    try:
        return await record.append(svc.access_log, event, usage=usage)
    except RateLimited as exc:
        remember(policy, exc)
        await record_refusal(svc, exc, request_id=request_id, now=now, caller=caller,
                             policy_version=policy.version)
        raise


async def record_refusal(
    svc: Services, exc: GatewayError, *, request_id: str, now: datetime, caller: Caller | None,
    policy_version: str | None, source: str | None = None,
    customer: CustomerKey | None = None, token: TokenClaim | None = None,
) -> int | None:
    """Refusals are decisions too: log them, and let the problem document carry the index.

    Only the stable problem type goes in; the detail text could name what the caller sent.
    5xx refusals are not logged here: the log itself may be what failed.
    """
    if exc.status >= 500:
        return None
    index = await record.append(svc.access_log, record.event_record(
        "refused", request_id=request_id, now=now, caller=caller,
        source=source if caller is None else caller.source,
        policy_version=policy_version, status=exc.status, customer=customer,
        problem=exc.type_slug,
        # which limit: the measure and whose (never the count of another request)
        **({"rate_limit": {"measure": exc.measure, "scope": exc.scope}}
           if isinstance(exc, RateLimited) else {}),
    ), token=token)
    exc.log_index = index
    return index
