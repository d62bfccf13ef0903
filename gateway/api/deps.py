"""Dependencies shared by the routes, as `Annotated` aliases."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Request

from gateway.domain import Caller
from gateway.errors import AuthError
from gateway.pipeline import record_refusal
from gateway.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def request_time() -> datetime:
    return datetime.now(timezone.utc)


NowDep = Annotated[datetime, Depends(request_time)]


def request_id(request: Request) -> str:
    rid: str = request.state.request_id
    return rid


RequestIdDep = Annotated[str, Depends(request_id)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def authenticated_caller(request: Request, svc: ServicesDep, now: NowDep,
                               rid: RequestIdDep) -> Caller:
    """Authenticate step. A refused token is itself recorded (who tried, from where, why)."""
    source = client_address(request)
    header = request.headers.get("authorization")
    try:
        # off the event loop: recording the token id is a database write
        return await to_thread.run_sync(
            lambda: svc.authenticator.authenticate(header, now=now, source=source)
        )
    except AuthError as exc:
        await record_refusal(svc, exc, request_id=rid, now=now, caller=None,
                             policy_version=svc.policy.current.version, source=source)
        raise


CallerDep = Annotated[Caller, Depends(authenticated_caller)]
