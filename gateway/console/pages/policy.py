"""The pending-policy page (four eyes): what the change opens, who proposed it, its problems,
and the button a second officer presses to make that exact version live.

Proposing and approving go through the same `PolicyReloader` as the API and the CLI: the
signed-in employee is the officer, the proposer may not approve, and each step is an access
record naming the people (`policy.proposed`, `policy.approved`, `policy.approval_refused`).
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from gateway.console import policyview
from gateway.console.i18n import add_messages
from gateway.console.web import Opens, Page, add_nav
from gateway.errors import GatewayError
from gateway.governance import Officer
from gateway.governance.errors import NotProposed, SelfApproval, VersionNotPending

router = APIRouter(prefix="/console/policy", tags=["console"], include_in_schema=False)
add_nav("policy", "/console/policy", "nav.policy")
PolicyPage = Annotated[Page, Depends(Opens("policy"))]

add_messages({
    "nav.policy": ("정책 승인", "Policy approval"),
    "policy.title": ("정책 변경 승인", "Policy change approval"),
    "policy.live": ("지금 적용 중인 정책", "Live policy"),
    "policy.approved_by": ("승인: {name}", "approved by {name}"),
    "policy.first_start": ("처음 시작할 때 적용됨", "adopted at first start"),
    "policy.pending": ("승인을 기다리는 정책", "Pending policy"),
    "policy.none_pending": ("승인을 기다리는 정책이 없습니다.", "No policy set is waiting."),
    "policy.found_by": ("발견: {how}, {when}", "found by {how}, {when}"),
    "policy.proposed_by": ("제안: {name}", "proposed by {name}"),
    "policy.not_proposed": ("아직 아무도 제안하지 않았습니다: 담당자가 자기 이름으로 제안해야 "
                            "다른 담당자가 승인할 수 있습니다.",
                            "Nobody has proposed it yet: an officer proposes it in their name, "
                            "then another officer can approve it."),
    "policy.propose": ("내 이름으로 제안", "Propose in my name"),
    "policy.approve": ("이 버전을 승인 (적용)", "Approve this version (make it live)"),
    "policy.own": ("내가 제안한 정책은 내가 승인할 수 없습니다 (다른 담당자가 승인).",
                   "You proposed this set: another officer must approve it."),
    "policy.disk_differs": ("정책 파일이 대기 중인 정책과 다릅니다 (파일 버전 {version}) — 파일을 "
                            "저장하면 다시 검사합니다.",
                            "The policy files differ from the pending set (files: {version}); "
                            "they are checked again once saved."),
    "policy.problems": ("검사 결과", "Problems"),
    "policy.problems.disk": ("정책 파일(디스크)의 검사 결과입니다: 오류가 있으면 대기도 적용도 "
                             "되지 않습니다.",
                             "Problems of the policy files on disk: with an error they are "
                             "neither pending nor live."),
    "policy.problems.pending": ("대기 중인 정책의 검사 결과입니다.",
                                "Problems of the pending set."),
    "policy.no_problems": ("문제가 없습니다.", "No problems."),
    "policy.code": ("코드", "Code"),
    "policy.where": ("위치", "Where"),
    "policy.message": ("내용", "Message"),
    "policy.error": ("오류", "error"),
    "policy.warning": ("경고", "warning"),
    "policy.diff": ("바뀌는 제공 범위 (적용 중 → 대기)", "What changes (live → pending)"),
    "policy.widenings": ("넓어지는 변경 {count}건", "{count} widening(s)"),
    "policy.no_diff": ("제공 범위는 바뀌지 않습니다.", "No access changes."),
    "policy.recipient": ("받는 계열사", "Recipient"),
    "policy.purpose": ("목적", "Purpose"),
    "policy.attribute": ("항목", "Attribute"),
    "policy.change": ("변경", "Change"),
    "policy.views_old": ("이전 형태", "Views before"),
    "policy.views_new": ("새 형태", "Views after"),
    "policy.systems": ("시스템", "Systems"),
    "policy.notes": ("참고", "Notes"),
    "policy.change.opened": ("새로 열림 ▲", "opened ▲"),
    "policy.change.widened": ("넓어짐 ▲", "widened ▲"),
    "policy.change.changed": ("바뀜 ▲", "changed ▲"),
    "policy.change.narrowed": ("좁아짐", "narrowed"),
    "policy.change.closed": ("닫힘", "closed"),
    "policy.conditions": ("조건 변경", "Condition changes"),
    "policy.subject": ("대상", "Subject"),
    "policy.field": ("항목", "Field"),
    "policy.old": ("이전", "Before"),
    "policy.new": ("이후", "After"),
    "policy.matrix": ("계열사별 제공 표 (목적 × 항목, 칸: 제공 형태)",
                      "What each recipient receives (purpose × attribute; cell: views)"),
    "policy.matrix.of_pending": ("대기 중인 정책 기준 — 굵은 칸은 바뀐 곳, ▲는 넓어진 곳",
                                 "Of the pending set — bold: changed, ▲: widened"),
    "policy.matrix.of_live": ("적용 중인 정책 기준", "Of the live policy"),
    "policy.file": ("정책 파일 {name}", "Policy file {name}"),
    "policy.file.pending": ("대기 중인 정책의 내용", "as pending"),
    "policy.file.disk": ("디스크의 현재 내용", "as on disk now"),
    "policy.back": ("정책 승인 화면으로", "Back to policy approval"),
    "flash.policy.proposed": ("제안했습니다: 다른 담당자가 승인하면 적용됩니다.",
                              "Proposed: it goes live once another officer approves it."),
    "flash.policy.unchanged": ("새로 제안할 변경이 없습니다.", "Nothing new to propose."),
    "flash.policy.rejected": ("정책 파일에 오류가 있어 제안하지 않았습니다 — 아래 검사 결과를 "
                              "보세요.",
                              "The policy files have errors and were not proposed: see the "
                              "problems below."),
    "flash.policy.approved": ("승인했습니다: 새 정책이 적용되었습니다.",
                              "Approved: the new policy is live."),
    "flash.policy.self": ("내가 제안한 정책은 승인할 수 없습니다: 다른 담당자가 승인해야 합니다.",
                          "You proposed this set: another officer must approve it."),
    "flash.policy.stale": ("그 버전은 지금 대기 중인 정책이 아닙니다 (이미 적용되었거나 새 변경으로 "
                           "바뀜): 화면을 다시 보고 승인하세요.",
                           "That version is not the pending one (already live, or replaced by "
                           "a newer change): check the page again."),
    "flash.policy.not_proposed": ("아직 제안되지 않은 정책입니다: 먼저 담당자가 제안해야 합니다.",
                                  "Nobody has proposed this set yet."),
    "flash.policy.failed": ("처리하지 못했습니다 (기록 실패 등): 아무것도 바뀌지 않았습니다.",
                            "Not done (e.g. the record failed): nothing changed."),
})


def _officer(page: Page) -> Officer:
    account = page.account
    assert account is not None  # Opens() signed the user in
    return Officer.named(account.username, via="console", system="console",
                         affiliate=account.affiliate)


@router.get("", response_class=HTMLResponse)
async def policy_page(page: PolicyPage) -> Response:
    view = await to_thread.run_sync(policyview.build, page.services)
    officer = _officer(page)
    own = view.pending is not None and officer.is_same_person(view.pending.proposed_by)
    return page.render("policy.html", view=view, own=own)


@router.get("/files/{name}", response_class=HTMLResponse)
async def policy_file(name: str, page: PolicyPage, pending: bool = True) -> Response:
    lines = await to_thread.run_sync(policyview.file_lines, page.services, name, pending)
    if lines is None:
        return page.render("error.html", status=404, title=page.t("policy.title"),
                           message=page.t("policy.none_pending"))
    return page.render("policy_file.html", name=name, lines=lines, pending=pending)


@router.post("/propose", response_class=HTMLResponse)
async def propose(page: PolicyPage) -> Response:
    await page.form()  # CSRF
    officer = _officer(page)
    result = await to_thread.run_sync(lambda: page.services.reloader.reload(
        "console", officer=officer, request_id=str(page.request.state.request_id),
        source=page.source))
    flash = {"proposed": "flash.policy.proposed", "rejected": "flash.policy.rejected",
             "unrecorded": "flash.policy.failed"}.get(result.outcome, "flash.policy.unchanged")
    if result.applied:
        flash = "flash.policy.approved"
    return page.redirect("/console/policy", flash=flash)


@router.post("/approve", response_class=HTMLResponse)
async def approve(page: PolicyPage) -> Response:
    form = await page.form()  # CSRF
    version = form.get("version")
    officer = _officer(page)
    if not isinstance(version, str) or not version or len(version) > 80:
        return page.redirect("/console/policy", flash="flash.policy.stale")
    try:
        await to_thread.run_sync(lambda: page.services.reloader.approve(
            version, officer, request_id=str(page.request.state.request_id),
            source=page.source))
    except SelfApproval:
        return page.redirect("/console/policy", flash="flash.policy.self")
    except NotProposed:
        return page.redirect("/console/policy", flash="flash.policy.not_proposed")
    except VersionNotPending:
        return page.redirect("/console/policy", flash="flash.policy.stale")
    except GatewayError:  # the record could not be written, the set no longer loads, ...
        return page.redirect("/console/policy", flash="flash.policy.failed")
    return page.redirect("/console/policy", flash="flash.policy.approved")
