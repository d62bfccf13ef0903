"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and the policy version in force")
async def healthz(svc: ServicesDep) -> dict[str, object]:
    return {"status": "ok", "policy_version": svc.policy.current.version}
