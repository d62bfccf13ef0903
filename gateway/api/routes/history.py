"""A customer's access history (이용·제공 내역 조회, 신용정보법 제35조), for the customer channels.

`POST /v1/customers/access-history` with the customer named by RRN in the body (never in the
URL) or by the caller's own pseudonym. Permission `history:read` (call centre, app, branch,
group customer centre). The customer must be one the caller's affiliate holds, or any group
customer for the group customer channel (`consent:any_customer`); anyone else — including an
RRN nobody holds — gets the very same 404.

The answer is JSON by default (`gateway-access-history/v1`, checked offline by
`gateway-verify history FILE`); the same history as a Korean document with `?format=html` or
`?format=pdf`, or `Accept: text/html` / `Accept: application/pdf`.

INVARIANT: the look-up is itself an access record (`history`), durable before any byte of the
answer is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from gateway import record
from gateway.api.deps import NowDep, RequestIdDep, Requires, ServicesDep
from gateway.api.routes.consents import managed_customer
from gateway.api.routes.queries import customer_ref
from gateway.api.schemas import CustomerIn, Strict
from gateway.domain import Caller, CustomerKey
from gateway.errors import GatewayError
from gateway.freetext import refuse_national_id
from gateway.pipeline import record_refusal
from gateway.rights.history import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    AccessHistory,
    Cursor,
    HistoryPage,
    Period,
)
from gateway.rights.history_document import history_html, history_pdf
from gateway.rights.history_json import page_json
from pseudonymizer.rrn import parse_national_id

router = APIRouter(prefix="/v1/customers", tags=["customer rights"])

PERMISSION = "history:read"
Format = Literal["json", "html", "pdf"]


class AccessHistoryIn(Strict):
    customer: CustomerIn
    since: datetime | None = Field(None, description="start of the period (RFC 3339 with an "
                                   "offset); default: three years before `until`")
    until: datetime | None = Field(None, description="end of the period (exclusive); "
                                   "default: now")
    cursor: str | None = Field(None, min_length=1, max_length=400,
                               description="`next_cursor` of the previous page; the period "
                               "and the checkpoint of the first page carry over")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="entries per page")


def _format(request: Request, asked: Format | None) -> Format:
    if asked is not None:
        return asked
    accept = request.headers.get("accept", "")
    if "application/pdf" in accept:
        return "pdf"
    if "text/html" in accept:
        return "html"
    return "json"


@router.post(
    "/access-history",
    summary="A customer's access history with proofs (이용·제공 내역, 신용정보법 제35조)",
    responses={200: {"description": "`gateway-access-history/v1` JSON (default), or the Korean "
                     "document with `?format=html|pdf` or `Accept: text/html|application/pdf`",
                     "content": {"application/json": {}, "text/html": {},
                                 "application/pdf": {}}}},
)
async def access_history(
    body: AccessHistoryIn, request: Request, svc: ServicesDep, now: NowDep, rid: RequestIdDep,
    caller: Annotated[Caller, Depends(Requires(PERMISSION))],
    format: Annotated[Format | None, Query(description="json (default), html or pdf")] = None,
) -> Response:
    chosen = _format(request, format)

    def work() -> tuple[HistoryPage, CustomerKey, str, str | None]:
        cursor = None
        if body.cursor is not None:
            cursor = Cursor.decode(refuse_national_id("cursor", body.cursor))
        period = Period.of(body.since, body.until, now)
        ref = customer_ref(body.customer.rrn, body.customer.pseudonym)
        key, pseudonym = managed_customer(svc, caller, ref)
        masked = parse_national_id(ref.rrn).masked() if ref.rrn is not None else None
        page = AccessHistory(svc.gateway_engine, svc.access_log).page(
            key, svc.policy.current, period=period, cursor=cursor, limit=body.limit)
        return page, key, pseudonym, masked

    try:
        page, key, pseudonym, masked = await to_thread.run_sync(work)
    except GatewayError as exc:
        # the same refusal for an unknown RRN and another affiliate's customer: no key in it
        await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                             policy_version=svc.policy.current.version)
        raise
    # INVARIANT: the look-up is durable in the log before any byte of the answer is sent
    index = await record.append(svc.access_log, record.event_record(
        "history", request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=svc.policy.current.version, status=200, customer=key,
        tree_size=page.tree_size, listed=[e.log_index for e in page.entries],
        hidden={h.exemption.purpose: h.count for h in page.hidden},
        campaigns=[c.campaign for c in page.campaigns],
        period={"since": record.timestamp(page.period.since),
                "until": record.timestamp(page.period.until)},
        page="first" if page.first_page else "next", format=chosen))
    doc: dict[str, Any] = page_json(page, request_id=rid, log_index=index, pseudonym=pseudonym,
                                    rrn_masked=masked)
    headers = {"X-Log-Index": str(index)}
    if chosen == "html":
        return HTMLResponse(history_html(doc, generated=now), headers=headers)
    if chosen == "pdf":
        pdf = await to_thread.run_sync(lambda: history_pdf(doc, generated=now))
        return Response(pdf, media_type="application/pdf", headers={
            **headers, "Content-Disposition": 'attachment; filename="access-history.pdf"'})
    return JSONResponse(doc, headers=headers)
