"""Administration: reload the policy set on demand (permission `policy:reload`, audited)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.api.deps import CallerDep, NowDep, RequestIdDep, ServicesDep
from gateway.api.problems import problem_response
from gateway.errors import PROBLEM_BASE, GatewayError, LogWriteFailed
from gateway.pipeline import record_refusal, require_permission

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class ReloadOut(BaseModel):
    request_id: str
    outcome: str  # "switched" | "unchanged"
    old_version: str
    new_version: str | None
    log_index: int | None


@router.post("/policy/reload", response_model=ReloadOut,
             summary="Validate the policy files and switch to them (kept if invalid)",
             responses={422: {"description": "the new set is invalid; the old one stays"},
                        503: {"description": "the switch could not be recorded; not applied"}})
async def reload_policy(request: Request, svc: ServicesDep, caller: CallerDep, now: NowDep,
                        rid: RequestIdDep) -> ReloadOut | JSONResponse:
    try:
        require_permission(svc.policy.current, caller, "policy:reload")
    except GatewayError as exc:
        await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                             policy_version=svc.policy.current.version)
        raise
    result = await to_thread.run_sync(
        lambda: svc.reloader.reload("admin-call", caller=caller, request_id=rid,
                                    source=caller.source)
    )
    if result.outcome == "rejected":
        errors = [{"file": p.file, "line": p.line, "column": p.column, "message": p.message}
                  for p in result.problems]
        return problem_response(
            request, status=422, type_uri=PROBLEM_BASE + "policy-invalid",
            title="policy set is invalid",
            detail=f"the new policy set has {len(errors)} problem(s); still serving "
                   f"`{result.old_version}`",
            extra={"errors": errors, "policy_version": result.old_version},
        )
    if result.outcome == "unrecorded":
        raise LogWriteFailed("the policy switch could not be recorded; the old set stays")
    return ReloadOut(request_id=rid, outcome=result.outcome, old_version=result.old_version,
                     new_version=result.new_version, log_index=result.log_index)
