"""The access log over HTTP: signed checkpoint, RFC 9162 proofs, records (auditors only)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from gateway import record
from gateway.accesslog import leaf_hash
from gateway.accesslog.keyring import published_verifier_keys
from gateway.api.deps import CallerDep, NowDep, RequestIdDep, Requires, ServicesDep
from gateway.api.schemas import ConsistencyProofOut, InclusionProofOut
from gateway.domain import Caller
from gateway.errors import NotFound, StoreUnavailable, ValidationFailed

router = APIRouter(prefix="/v1/log", tags=["access log"])

MAX_RECORDS = 1000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ProofOutOfRange(ValidationFailed):
    type_slug = "proof-range"
    title = "proof parameters are outside the log"


@router.get("/checkpoint", response_class=PlainTextResponse,
            summary="Latest signed checkpoint (C2SP signed note)")
async def checkpoint(svc: ServicesDep, caller: CallerDep) -> PlainTextResponse:
    try:
        note = await to_thread.run_sync(svc.access_log.checkpoint)
    except (SQLAlchemyError, OSError) as exc:  # e.g. a full disk: 503, never a 500
        raise StoreUnavailable(f"access log unavailable: `{type(exc).__name__}`") from exc
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


@router.get("/keys", response_class=PlainTextResponse,
            summary="The log's published verifier keys (C2SP note format), one per line")
async def keys(svc: ServicesDep, caller: CallerDep) -> PlainTextResponse:
    """Every version, old ones included, so that old checkpoints stay checkable.

    A convenience for clients: a verifier should also get the keys it trusts out of band
    (a regulator from the company's filing), not only from the log it checks.
    """
    published = await to_thread.run_sync(
        published_verifier_keys, Path(svc.settings.public_keys_dir))
    lines = list(published.values()) or [svc.signer.verifier_key()]
    return PlainTextResponse("".join(f"{key}\n" for key in lines),
                             media_type="text/plain; charset=utf-8")


@router.get("/proofs/inclusion", response_model=InclusionProofOut,
            summary="RFC 9162 inclusion proof of one record")
async def inclusion(svc: ServicesDep, caller: CallerDep,
                    index: Annotated[int, Query(ge=0)],
                    tree_size: Annotated[int, Query(ge=1)]) -> InclusionProofOut:
    def work() -> InclusionProofOut:
        size = svc.access_log.size()
        if tree_size > size or index >= tree_size:
            raise ProofOutOfRange(f"need `index` < `tree_size` <= {size}")
        proof = svc.access_log.inclusion_proof(index, tree_size)
        leaf = leaf_hash(svc.access_log.record(index))
        return InclusionProofOut(index=index, tree_size=tree_size, leaf_hash=_b64(leaf),
                                 hashes=[_b64(h) for h in proof])

    return await to_thread.run_sync(work)


@router.get("/proofs/consistency", response_model=ConsistencyProofOut,
            summary="RFC 9162 consistency proof between two tree sizes")
async def consistency(svc: ServicesDep, caller: CallerDep,
                      first: Annotated[int, Query(ge=1)],
                      second: Annotated[int, Query(ge=1)]) -> ConsistencyProofOut:
    def work() -> ConsistencyProofOut:
        size = svc.access_log.size()
        if not first <= second <= size:
            raise ProofOutOfRange(f"need `first` <= `second` <= {size}")
        proof = svc.access_log.consistency_proof(first, second)
        return ConsistencyProofOut(first=first, second=second, hashes=[_b64(h) for h in proof])

    return await to_thread.run_sync(work)


@router.get("/records", summary="Records [start, end) as JSON lines, exactly as hashed",
            response_class=Response,
            responses={200: {"content": {"application/jsonl": {}}}})
async def records(svc: ServicesDep, caller: Annotated[Caller, Depends(Requires("log:read"))],
                  now: NowDep, rid: RequestIdDep, start: Annotated[int, Query(ge=0)],
                  end: Annotated[int, Query(ge=1)]) -> Response:
    if end <= start or end - start > MAX_RECORDS:
        raise ProofOutOfRange(f"need `start` < `end` and at most {MAX_RECORDS} records")
    size = await to_thread.run_sync(svc.access_log.size)
    if end > size:
        raise NotFound(f"the log holds {size} records")
    rows = await to_thread.run_sync(svc.access_log.records, start, end)
    # Reading the log is itself an access to personal data (customer keys): record it first.
    index = await record.append(svc.access_log, record.event_record(
        "log.read", request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=svc.policy.current.version, status=200, start=start, end=end,
    ))
    return Response(b"\n".join(rows) + b"\n", media_type="application/jsonl",
                    headers={"X-Log-Index": str(index)})
