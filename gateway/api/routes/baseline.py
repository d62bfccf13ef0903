"""UNSAFE benchmark baseline: the same stack reading the same row with no checks at all.

Mounted only when `GATEWAY_UNSAFE_BENCH_BASELINE=true`; the app logs a warning when it is.
It exists so the benchmark can print the full path's overhead beside a bare read.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.api.deps import ServicesDep
from gateway.domain import AttributeId, CustomerKey
from gateway.fetch import fetch

router = APIRouter(prefix="/unsafe", tags=["unsafe"], include_in_schema=False)


class BaselineIn(BaseModel):
    customer_key: str = Field(pattern=r"^[0-9a-f]{32}$")
    attributes: list[str] = Field(min_length=1, max_length=64)


@router.post("/baseline")
async def baseline(body: BaselineIn, svc: ServicesDep) -> dict[str, object]:
    policy = svc.policy.current
    attributes = [policy.attributes[AttributeId(a)] for a in body.attributes
                  if AttributeId(a) in policy.attributes]
    # the same way the query path reads (`Services.run_reads`): inline on SQLite
    values = await svc.run_reads(fetch, svc.affiliates, attributes, CustomerKey(body.customer_key))
    return {"values": {k: str(v) for k, v in values.items()}}
