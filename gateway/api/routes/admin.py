"""Administration of the policy (four eyes): check the files and propose them, show the pending
set, approve it. Proposing needs `policy:reload`, approving `policy:approve`; the officer is the
token's employee (`sub`), and whoever proposed a set may not approve it. Every step is recorded.
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway.api.deps import RequestIdDep, Requires, ServicesDep
from gateway.api.problems import problem_response
from gateway.domain import Caller
from gateway.errors import PROBLEM_BASE, LogWriteFailed
from gateway.governance import Officer
from gateway.governance.files import inspect_files
from gateway.policy.problems import Problem

router = APIRouter(prefix="/v1/admin", tags=["admin"])

ProposerDep = Annotated[Caller, Depends(Requires("policy:reload"))]
ApproverDep = Annotated[Caller, Depends(Requires("policy:approve"))]


class PolicyProblemOut(BaseModel):
    code: str = Field(description="stable code, listed in docs/POLICY-CODES.md")
    severity: str
    file: str
    line: int
    column: int
    message_en: str
    message_ko: str


class ReloadOut(BaseModel):
    request_id: str
    outcome: str  # "proposed" | "pending" | "unchanged"
    live_version: str = Field(description="the set in force (unchanged until approved)")
    version: str | None = Field(description="the version hash of the files read")
    log_index: int | None
    warnings: list[PolicyProblemOut]
    applied: bool = Field(description="auto-apply (demo) made it live at once")


class PendingSetOut(BaseModel):
    version: str
    detected_by: str
    detected_at: str
    proposed_by: str | None = Field(description="null until an officer proposes it")
    proposal_index: int | None
    problems: list[PolicyProblemOut]


class PendingOut(BaseModel):
    live_version: str
    approved_by: str | None
    pending: PendingSetOut | None


class ApproveIn(BaseModel):
    version: str = Field(min_length=1, max_length=80,
                         description="the exact version hash of the pending set",
                         # published; the check itself answers `policy-version-malformed`
                         json_schema_extra={"pattern": r"^sha256:[0-9a-f]{64}$"})


class ApproveOut(BaseModel):
    request_id: str
    old_version: str
    new_version: str
    proposed_by: str
    approved_by: str
    log_index: int


def _problems(problems: tuple[Problem, ...]) -> list[PolicyProblemOut]:
    return [PolicyProblemOut(**p.as_dict()) for p in problems]


@router.post("/policy/reload", response_model=ReloadOut,
             summary="Check the policy files and propose them (pending until a second officer "
                     "approves)",
             responses={422: {"description": "the set is invalid: each problem with its code, "
                                             "line and Korean text; nothing changes"},
                        503: {"description": "the proposal could not be recorded"}})
async def reload_policy(request: Request, svc: ServicesDep, caller: ProposerDep,
                        rid: RequestIdDep) -> ReloadOut | JSONResponse:
    officer = Officer.from_caller(caller)
    result = await to_thread.run_sync(
        lambda: svc.reloader.reload("admin-call", officer=officer, request_id=rid,
                                    source=caller.source))
    if result.outcome == "rejected":
        count = len(result.problems)
        return problem_response(
            request, status=422, type_uri=PROBLEM_BASE + "policy-invalid",
            title="policy set is invalid",
            detail=f"the policy files have {count} problem(s); still serving "
                   f"`{result.live_version}`",
            extra={"detail_ko": f"정책 파일에 문제가 {count}건 있어 적용하지 않았습니다 — 지금 "
                                f"정책(`{result.live_version}`)을 계속 씁니다",
                   "errors": [p.as_dict() for p in result.problems],
                   "policy_version": result.live_version},
        )
    if result.outcome == "unrecorded":
        raise LogWriteFailed("the proposal could not be recorded; nothing changed")
    return ReloadOut(request_id=rid, outcome=result.outcome, live_version=result.live_version,
                     version=result.version, log_index=result.log_index,
                     warnings=_problems(result.problems), applied=result.applied)


@router.get("/policy/pending", response_model=PendingOut,
            summary="The live policy version and the set waiting for approval, with its problems")
async def pending_policy(svc: ServicesDep, caller: ProposerDep) -> PendingOut:
    def read() -> PendingOut:
        live = svc.reloader.store.live()
        pending = svc.reloader.store.pending()
        out: PendingSetOut | None = None
        if pending is not None:
            inspection = inspect_files(pending.files, svc.reloader.public_keys_dir,
                                       shown_as=svc.reloader.policy_dir)
            out = PendingSetOut(
                version=pending.version, detected_by=pending.detected_by,
                detected_at=pending.detected_at.isoformat(), proposed_by=pending.proposed_by,
                proposal_index=pending.proposal_index, problems=_problems(inspection.problems))
        return PendingOut(live_version=svc.policy.current.version,
                          approved_by=live.approved_by if live else None, pending=out)
    return await to_thread.run_sync(read)


@router.post("/policy/approve", response_model=ApproveOut,
             summary="Approve the pending policy set by its exact version hash: it goes live",
             responses={403: {"description": "the caller proposed this set (four eyes)"},
                        409: {"description": "the version is not the pending one, or the set "
                                             "has no named proposer"},
                        503: {"description": "the approval could not be recorded; nothing "
                                             "changed"}})
async def approve_policy(body: ApproveIn, svc: ServicesDep, caller: ApproverDep,
                         rid: RequestIdDep) -> ApproveOut:
    officer = Officer.from_caller(caller)
    result = await to_thread.run_sync(
        lambda: svc.reloader.approve(body.version, officer, request_id=rid,
                                     source=caller.source))
    return ApproveOut(request_id=rid, old_version=result.old_version,
                      new_version=result.new_version, proposed_by=result.proposed_by,
                      approved_by=result.approved_by, log_index=result.log_index)
