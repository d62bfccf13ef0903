"""Dependencies shared by the routes, as `Annotated` aliases.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in a worker thread,
which would cost each request a thread hop per dependency for what are attribute reads.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth.token_ids import VerifiedCaller
from gateway.domain import Caller
from gateway.errors import AuthError, GatewayError, TokenReplayed
from gateway.pipeline import record_refusal, require_permission
from gateway.services import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def request_time() -> datetime:
    """The request's clock (a dependency, so tests can move it)."""
    return datetime.now(timezone.utc)


def now_of(request: Request) -> datetime:
    """The `now` the request's authentication used (the clock, if it got that far)."""
    now: datetime | None = getattr(request.state, "now", None)
    return now if now is not None else datetime.now(timezone.utc)


NowDep = Annotated[datetime, Depends(request_time)]


async def request_id(request: Request) -> str:
    rid: str = request.state.request_id
    return rid


RequestIdDep = Annotated[str, Depends(request_id)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass(frozen=True, slots=True)
class VerifiedCall:
    """A request whose token passed every check but replay: what the route needs of it, in
    one dependency (each FastAPI dependency costs every request a resolution step)."""

    services: Services
    now: datetime
    request_id: str
    verified: VerifiedCaller

    @property
    def caller(self) -> Caller:
        return self.verified.caller


async def verified_call(request: Request, now: NowDep) -> VerifiedCall:
    """Authenticate step, all checks but replay (the route claims the token id with its record).

    A refused token is itself recorded: counted among the unauthenticated refusals of its
    source and minute, which get one record each (`gateway.unauthenticated`). Verification is
    CPU only (no database): on the event loop, or its signature by the host's signature
    service where `serve` runs one.
    """
    svc: Services = request.app.state.services
    rid = str(request.state.request_id)
    request.state.now = now
    source = client_address(request)
    try:
        header = request.headers.get("authorization")
        if svc.signatures is None:
            caller, expires = svc.authenticator.verify(header, now=now, source=source)
        else:  # the signature checked on a spare core (`gateway.auth.offload`)
            caller, expires = await svc.authenticator.verify_offloaded(
                header, now=now, source=source, signatures=svc.signatures)
    except AuthError as exc:  # no caller proven: counted per source and minute, not one by one
        count_unauthenticated(request, exc)
        raise
    verified = VerifiedCaller(caller, expires)
    # until the route claims the id, a refusal before it (a body failing the schema) must
    # claim it instead (`refuse_request`)
    request.state.unclaimed_token = verified
    return VerifiedCall(svc, now, rid, verified)


async def refuse_verified(request: Request, verified: VerifiedCaller,
                          error: GatewayError) -> GatewayError:
    """Record `error` as the refusal of a verified caller's request, using up its token id;
    return the problem to answer with (`TokenReplayed` when the id had been used before)."""
    svc: Services = request.app.state.services
    now, rid = now_of(request), str(request.state.request_id)
    version = svc.policy.current.version
    try:
        if not svc.token_ids.ride_with_records:
            await svc.token_ids.claim(verified)
        await record_refusal(svc, error, request_id=rid, now=now, caller=verified.caller,
                             policy_version=version,
                             token=verified.claim if svc.token_ids.ride_with_records else None)
    except TokenReplayed as replay:
        await record_refusal(svc, replay, request_id=rid, now=now, caller=verified.caller,
                             policy_version=version)
        return replay
    except GatewayError as failure:  # the log is unavailable: that is the answer now
        return failure
    return error


async def refuse_claimed(request: Request, caller: Caller, error: GatewayError) -> GatewayError:
    """Record `error` as the refusal of an authenticated caller whose token id is already
    claimed; return the problem to answer with (503 if the log failed)."""
    svc: Services = request.app.state.services
    try:
        await record_refusal(svc, error, request_id=str(request.state.request_id),
                             now=now_of(request), caller=caller,
                             policy_version=svc.policy.current.version)
    except GatewayError as failure:
        return failure
    return error


def count_unauthenticated(request: Request, error: GatewayError) -> None:
    """Count a refusal whose caller is not proven (`gateway.unauthenticated`): its record,
    one per source and minute, is written after the minute closes, so the answer carries no
    log index."""
    svc: Services = request.app.state.services
    svc.unauthenticated.count(problem=error.type_slug, status=error.status,
                              source=client_address(request),
                              request_id=getattr(request.state, "request_id", None))


async def _clock(request: Request) -> datetime:
    """The request clock the routes use (a test's override of `request_time` included)."""
    clock = request.app.dependency_overrides.get(request_time, request_time)
    value = clock()
    now: datetime = await value if inspect.isawaitable(value) else value
    return now


async def token_caller(request: Request) -> VerifiedCaller | None:
    """The caller of a request refused before its route authenticated it: the one its token
    names when the token passes every check but replay; None otherwise."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    svc: Services = request.app.state.services
    now = await _clock(request)
    try:
        caller, expires = svc.authenticator.verify(header, now=now,
                                                   source=client_address(request))
    except AuthError:
        return None
    request.state.now = now
    return VerifiedCaller(caller, expires)


async def refuse_request(request: Request, error: GatewayError) -> GatewayError:
    """Record `error` as this request's refusal, whichever step it came from; return the
    problem to answer with (`TokenReplayed`, or 503 when the log failed, instead).

    - the token was verified and its id not yet claimed (a body failing the schema): the
      caller's refusal, using the id up (`refuse_verified`);
    - the id was claimed (`CallerDep`): the caller's refusal (`refuse_claimed`);
    - no step authenticated the request yet (the body guard's 400/413/415, a body that is not
      JSON, an unknown route or method): the caller's refusal if the request carries a token
      that verifies (the id used up), else counted among the unauthenticated refusals of
      its source and minute.
    """
    verified: VerifiedCaller | None = getattr(request.state, "unclaimed_token", None)
    if verified is not None:
        request.state.unclaimed_token = None
        return await refuse_verified(request, verified, error)
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is not None:
        return await refuse_claimed(request, caller, error)
    verified = await token_caller(request)
    if verified is None:
        count_unauthenticated(request, error)
        return error
    request.state.caller = verified.caller
    return await refuse_verified(request, verified, error)


def authenticated(request: Request) -> bool:
    """Whether a step proved the request's caller (its token id claimed or still owed)."""
    return (getattr(request.state, "unclaimed_token", None) is not None
            or getattr(request.state, "caller", None) is not None)


VerifiedCallDep = Annotated[VerifiedCall, Depends(verified_call)]


async def authenticated_caller(request: Request, call: VerifiedCallDep) -> Caller:
    """Authenticate step for routes that write no record of their own: the token id is
    claimed (in the next group commit of the log) before the route runs."""
    request.state.unclaimed_token = None  # claimed here, whatever happens next
    request.state.caller = call.caller  # a later refusal (a body failing the schema) names it
    svc = call.services
    try:
        await svc.token_ids.claim(call.verified)
    except AuthError as exc:  # a replay: recorded, naming the system that presented it
        await record_refusal(svc, exc, request_id=call.request_id, now=call.now,
                             caller=call.caller, policy_version=svc.policy.current.version)
        raise
    return call.caller


CallerDep = Annotated[Caller, Depends(authenticated_caller)]


class Requires:
    """A route's permission (`Depends(Requires("log:read"))`): checked against the policy in
    force, and a refusal recorded, naming the caller, before the route runs. A route that
    declares its permission this way cannot forget to record the refusal."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, request: Request, caller: CallerDep) -> Caller:
        svc: Services = request.app.state.services
        try:
            require_permission(svc.policy.current, caller, self.permission)
        except GatewayError as exc:
            await record_refusal(svc, exc, request_id=str(request.state.request_id),
                                 now=now_of(request), caller=caller,
                                 policy_version=svc.policy.current.version)
            raise
        return caller
