"""A customer's timeline for the call centre and inspectors: who received what, when and why.

The agent types the customer's RRN into a form (POST: never in a URL, never in a log line);
the page shows it masked. The history is the customer-rights one (`gateway.rights.history`:
the per-customer index of the log, names from the policy, KST times), so the agent sees what
the customer would be told. Roles other than the inspector see only customers their own
affiliate holds (or any group customer when the affiliate serves the whole group); an RRN
nobody holds and another affiliate's customer get the same answer.

INVARIANT: each look-up is an access record (`console.view`, page `timeline`) naming the
employee and the customer key, durable before the page is sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from gateway.console.web import Opens, Page, add_nav
from gateway.domain import AffiliateId, CustomerKey
from gateway.rights.history import MAX_LIMIT, AccessHistory, HistoryPage, Period
from pseudonymizer.errors import InvalidNationalId
from pseudonymizer.rrn import parse_national_id

router = APIRouter(prefix="/console/timeline", tags=["console"], include_in_schema=False)
add_nav("timeline", "/console/timeline", "nav.timeline")

TimelinePage = Annotated[Page, Depends(Opens("timeline"))]
SEES_EVERY_CUSTOMER = frozenset({"inspector"})  # a supervisor's inspection is group-wide


@router.get("", response_class=HTMLResponse)
async def form(page: TimelinePage) -> Response:
    return page.render("timeline.html", error=None, masked=None, history=None, index=None)


def _customer(page: Page, digits: str) -> CustomerKey | None:
    """The customer key if this user may look the customer up (else None, as if unknown)."""
    assert page.account is not None and page.role is not None
    registry = page.services.registry
    if page.role.id in SEES_EVERY_CUSTOMER:
        return registry.lookup(digits)
    affiliate = page.services.policy.current.affiliates.get(AffiliateId(page.account.affiliate))
    if affiliate is None:
        return None
    if affiliate.sees_group_customers:
        return registry.lookup(digits)
    key, held = registry.lookup_held(digits, affiliate.id)
    return key if held else None


@router.post("", response_class=HTMLResponse)
async def look_up(page: TimelinePage) -> Response:
    posted = await page.form()
    text = str(posted.get("rrn") or "")[:64]
    try:
        nid = parse_national_id(text)
    except InvalidNationalId:
        return page.render("timeline.html", status=422, error=page.t("timeline.bad_rrn"),
                           masked=None, history=None, index=None)
    masked = nid.masked()
    svc = page.services

    def read() -> tuple[CustomerKey | None, HistoryPage | None]:
        key = _customer(page, nid.digits)
        if key is None:
            return None, None
        history = AccessHistory(svc.gateway_engine, svc.access_log).page(
            key, svc.policy.current, period=Period.of(None, None, page.now), limit=MAX_LIMIT)
        return key, history

    key, history = await to_thread.run_sync(read)
    if key is None or history is None:
        await page.record("console.view", status=404, page="timeline")
        return page.render("timeline.html", status=404, masked=masked, history=None,
                           index=None, error=page.t("timeline.unknown", masked=masked))
    # INVARIANT: recorded before anything about the customer is shown
    index = await page.record(
        "console.view", customer=key, page="timeline", tree_size=history.tree_size,
        listed=[e.log_index for e in history.entries],
        hidden={h.exemption.purpose: h.count for h in history.hidden},
        period={"since": _stamp(history.period.since), "until": _stamp(history.period.until)})
    entries: list[dict[str, Any]] = [{"log_index": e.log_index, **e.fields}
                                     for e in history.entries]
    return page.render("timeline.html", error=None, masked=masked, history=history,
                       entries=entries, index=index)


def _stamp(moment: Any) -> str:
    from gateway.record import timestamp

    return timestamp(moment)
