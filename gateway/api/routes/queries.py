"""`POST /v1/queries`: one customer's attributes, for one declared purpose."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import TypeAdapter

from gateway.api.deps import VerifiedCallDep
from gateway.api.schemas import (
    CustomerOut,
    PurposeTerms,
    QueryIn,
    QueryOut,
    ReleasedOut,
    WithheldOut,
)
from gateway.domain import AttributeId, AttributeRequest, PurposeId, ViewName
from gateway.marketing.windows import narrowest
from gateway.pipeline import handle_query
from gateway.resolve import CustomerRef

router = APIRouter(prefix="/v1/queries", tags=["queries"])
# the answer is built here from typed values, so it is serialized once, not validated again
_ANSWER = TypeAdapter(QueryOut)


def customer_ref(rrn: object | None, pseudonym: str | None) -> CustomerRef:
    secret = rrn.get_secret_value() if rrn is not None else None  # type: ignore[attr-defined]
    return CustomerRef(rrn=secret, pseudonym=pseudonym)


@router.post("", response_model=QueryOut, summary="Ask for a customer's attributes")
async def query(body: QueryIn, call: VerifiedCallDep) -> Response:
    wanted = tuple(
        AttributeRequest(AttributeId(item)) if isinstance(item, str)
        else AttributeRequest(AttributeId(item.attribute),
                              ViewName(item.view) if item.view else None)
        for item in body.attributes
    )
    rid = call.request_id
    result = await handle_query(
        call.services, call.verified, customer_ref(body.customer.rrn, body.customer.pseudonym),
        PurposeId(body.purpose), wanted, now=call.now, request_id=rid,
    )
    purpose = result.policy.purposes[result.decision.purpose]
    answer = QueryOut(
        request_id=rid,
        log_index=result.log_index,
        customer=CustomerOut(pseudonym=result.pseudonym),
        purpose=result.decision.purpose,
        outcome=result.shaped.outcome,
        released={
            item.attribute: ReleasedOut(view=item.view, value=value, rule=item.rule,
                                        consent=item.consent,
                                        scrubbed=result.shaped.scrubbed.get(item.attribute),
                                        contact_window=item.contact_window,
                                        use_by=result.use_by)
            for item, value in result.shaped.released
        },
        withheld=[WithheldOut(attribute=w.attribute, reason=w.reason, detail=w.detail)
                  for w in result.shaped.withheld],
        policy_version=result.decision.policy_version,
        consent_ids=sorted({item.consent for item, _ in result.shaped.released if item.consent}),
        terms=PurposeTerms(legal_basis=purpose.legal_basis,
                           retention_days=purpose.retention_days,
                           notify_customer=purpose.notify_customer),
        contact_window=narrowest([item.contact_window for item, _ in result.shaped.released
                                  if item.contact_window]),
    )
    return Response(_ANSWER.dump_json(answer, by_alias=True), media_type="application/json",
                    headers={"X-Log-Index": str(result.log_index)})
