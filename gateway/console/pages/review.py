"""The monthly review page: `/console/review/2026-11`, its PDF, and the reviewer's sign-off.

The page shows the same review `gateway review --month` prints (gateway/review/), built on
each request from the access log, pinned (tree size, `as_of`) in the sign-off form so that
the POST rebuilds exactly what the reviewer read and refuses the sign-off if it differs
(409). The sign-off is a `review.signoff` record naming the signed-in employee; a comment
holding a national id number is refused (422, not shown back) and the refusal recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from gateway.console.i18n import add_messages
from gateway.console.web import Opens, Page, add_nav
from gateway.errors import GatewayError
from gateway.freetext import NationalIdInText
from gateway.review import Month, MonthInvalid, Review, build_review
from gateway.review.aggregate import SIGNOFF_KIND
from gateway.review.documents import review_body, review_pdf
from gateway.review.signoff import MAX_COMMENT, ReviewChanged, signoff_fields

router = APIRouter(prefix="/console/review", tags=["console"], include_in_schema=False)
add_nav("review", "/console/review", "nav.review")
add_messages({
    "nav.review": ("월간 점검", "Monthly review"),
    "review.title": ("{month} 월간 접근기록 점검", "Monthly access review {month}"),
    "review.bad_month": ("월은 2026-11처럼 적어 주세요.", "Write the month as e.g. 2026-11."),
    "review.pdf": ("PDF로 받기", "Download PDF"),
    "review.signoff": ("점검 확인 서명", "Sign the review off"),
    "review.signoff.comment": ("의견 (필수, 주민등록번호 금지)",
                               "Comment (required; no resident registration number)"),
    "review.signoff.submit": ("확인 서명", "Sign off"),
    "review.signoff.required": ("의견을 적어 주세요.", "Write a comment."),
    "review.signoff.rrn": ("의견에 주민등록번호로 보이는 값이 있어 받지 않았습니다.",
                           "The comment holds what reads as a resident registration number: "
                           "it was not accepted."),
    "review.signoff.changed": ("그 사이 점검 내용이 바뀌었습니다. 다시 읽고 서명해 주세요.",
                               "The review changed meanwhile: read it again, then sign off."),
    "review.signoff.bad_pin": ("서명 양식이 올바르지 않습니다.", "The sign-off form is invalid."),
    "flash.review_signed": ("점검 확인 서명이 접근 기록에 남았습니다.",
                            "The sign-off is in the access log."),
})
ReviewPage = Annotated[Page, Depends(Opens("review"))]
SignOffPage = Annotated[Page, Depends(Opens("review_signoff"))]


def _month(page: Page, text: str) -> Month | Response:
    try:
        return Month.parse(text)
    except MonthInvalid:
        return page.render("error.html", status=404, title=page.t("review.bad_month"),
                           message=page.t("review.bad_month"))


async def _review(page: Page, month: Month, *, tree_size: int | None = None,
                  as_of: datetime | None = None) -> Review:
    svc = page.services
    return await to_thread.run_sync(lambda: build_review(
        svc.log_engine, svc.policy.current, month, tree_size=tree_size,
        as_of=as_of if as_of is not None else page.now))


async def _render(page: Page, review: Review, *, status: int = 200, **extra: Any) -> Response:
    month = Month.parse(review.month)
    body = await to_thread.run_sync(review_body, review, page.services.policy.current)
    context: dict[str, Any] = {"error": None, "comment": ""}
    context.update(extra)
    return page.render("review.html", status=status, month=review.month, body=body,
                       previous=str(month.previous()), following=str(month.next()),
                       review=review, may_sign=page.may_open("review_signoff"),
                       max_comment=MAX_COMMENT, **context)


@router.get("", response_class=HTMLResponse)
async def latest(page: ReviewPage) -> Response:
    """The month just ended (KST): the one a reviewer signs off now."""
    return page.redirect(f"/console/review/{Month.of(page.now).previous()}")


@router.get("/{month}", response_class=HTMLResponse)
async def review_page(month: str, page: ReviewPage) -> Response:
    wanted = _month(page, month)
    if isinstance(wanted, Response):
        return wanted
    return await _render(page, await _review(page, wanted))


@router.get("/{month}/pdf")
async def review_pdf_file(month: str, page: ReviewPage) -> Response:
    wanted = _month(page, month)
    if isinstance(wanted, Response):
        return wanted
    review = await _review(page, wanted)
    data = await to_thread.run_sync(lambda: review_pdf(review, page.services.policy.current,
                                                       created=page.now))
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="access-review-{wanted}.pdf"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/{month}/sign-off", response_class=HTMLResponse)
async def sign_off(month: str, page: SignOffPage) -> Response:
    form = await page.form()  # CSRF first
    wanted = _month(page, month)
    if isinstance(wanted, Response):
        return wanted
    comment = str(form.get("comment") or "")[:MAX_COMMENT + 1]
    digest = str(form.get("digest") or "")
    try:
        tree_size = int(str(form.get("tree_size") or ""))
        as_of = datetime.fromisoformat(str(form.get("as_of") or "").replace("Z", "+00:00"))
        if as_of.tzinfo is None or tree_size < 0:
            raise ValueError("unpinned")
    except ValueError:
        return await _render(page, await _review(page, wanted), status=422,
                             error=page.t("review.signoff.bad_pin"))
    try:
        review = await _review(page, wanted, tree_size=tree_size, as_of=as_of)
    except GatewayError:  # a tree size beyond the log: not a review anyone was shown
        return await _render(page, await _review(page, wanted), status=422,
                             error=page.t("review.signoff.bad_pin"))
    account = page.account
    assert account is not None  # Opens() signed the user in
    try:
        fields = signoff_fields(review, reviewer=f"{account.display_name} ({account.username})",
                                comment=comment, expected_digest=digest)
    except GatewayError as exc:
        await page.record("refused", status=exc.status, problem=exc.type_slug)
        key = ("review.signoff.rrn" if isinstance(exc, NationalIdInText) else
               "review.signoff.changed" if isinstance(exc, ReviewChanged) else
               "review.signoff.required")
        keep = "" if isinstance(exc, NationalIdInText) else comment  # never shown back
        fresh = await _review(page, wanted)
        return await _render(page, fresh, status=exc.status, error=page.t(key), comment=keep)
    await page.record(SIGNOFF_KIND, **fields)  # NotRecorded: nothing claimed
    return page.redirect(f"/console/review/{wanted}", flash="flash.review_signed")
