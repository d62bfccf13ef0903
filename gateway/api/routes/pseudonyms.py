"""Pseudonym mappings: after a key rotation, a recipient's old pseudonyms → its current ones.

Audited like every access (개인정보의 안전성 확보조치 기준 제8조): the record says who asked, how
many pseudonyms were sent, mapped, expired or refused — never the pseudonyms or the customers.
Who may call it is in the policy (`pseudonym:map`). A recipient only ever gets its own
pseudonyms, and only of customers it still holds (the holding: any group customer).
"""

from __future__ import annotations

from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from gateway import record
from gateway.api.deps import CallerDep, NowDep, RequestIdDep, ServicesDep
from gateway.api.schemas import Strict
from gateway.domain import CustomerKey
from gateway.errors import GatewayError, UnknownPseudonym
from gateway.pipeline import record_refusal, require_permission
from gateway.pseudonyms import is_national_id
from pseudonymizer.pseudonyms import Mapped

router = APIRouter(prefix="/v1/pseudonyms", tags=["pseudonyms"])

MAX_BATCH = 1000

PseudonymText = Annotated[str, StringConstraints(min_length=4, max_length=128,
                                                 pattern=r"^[a-z0-9_]+$")]


class MappingIn(Strict):
    pseudonyms: list[PseudonymText] = Field(
        min_length=1, max_length=MAX_BATCH,
        description="pseudonyms this gateway gave your affiliate under an earlier key version",
    )


class MappingOut(BaseModel):
    old: str
    new: str | None = Field(description="the current pseudonym; null when `old` did not map")
    error: Literal["expired", "invalid"] | None = Field(
        description="`expired`: its key version is past the grace period; `invalid`: not a "
        "pseudonym of a customer your affiliate holds")


class MappingResult(BaseModel):
    request_id: str
    log_index: int
    key_version: int = Field(description="the key version of every `new` pseudonym")
    mappings: list[MappingOut]


def _counts(mapped: list[Mapped]) -> dict[str, int]:
    return {
        "requested": len(mapped),
        "mapped": sum(m.new is not None for m in mapped),
        "expired": sum(m.error == "expired" for m in mapped),
        "invalid": sum(m.error == "invalid" for m in mapped),
    }


@router.post("/mappings", response_model=MappingResult,
             summary="Map your old pseudonyms to the current ones after a key rotation")
async def mappings(body: MappingIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                   rid: RequestIdDep) -> MappingResult:
    policy = svc.policy.current

    def work() -> tuple[list[Mapped], int]:
        require_permission(policy, caller, "pseudonym:map")
        # the answer echoes each `old`: a national id number must never come back in it
        if any(is_national_id(p) for p in body.pseudonyms):
            raise UnknownPseudonym("a national id number is not a pseudonym: the batch is "
                                   "refused")
        sees_all = policy.affiliates[caller.affiliate].sees_group_customers
        version = svc.pseudonymizer.current_version(caller.affiliate)
        mapped = svc.pseudonymizer.remap(
            body.pseudonyms, caller.affiliate, now=now,
            keep=None if sees_all else (
                lambda key: svc.registry.holds(CustomerKey(key), caller.affiliate)),
        )
        return mapped, version

    try:
        mapped, version = await to_thread.run_sync(work)
    except GatewayError as exc:
        await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                             policy_version=policy.version)
        raise
    # INVARIANT: the record is durable before the mapping leaves; it holds counts only.
    index = await record.append(svc.access_log, record.event_record(
        "pseudonym.map", request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=policy.version, status=200, customer=None, key_version=version,
        **_counts(mapped),
    ))
    return MappingResult(
        request_id=rid, log_index=index, key_version=version,
        mappings=[MappingOut(old=m.old, new=m.new, error=m.error) for m in mapped],
    )
