"""Campaigns: extract a segment's eligible customers as a stream; progress; destruction.

Permission `campaign:run` (the marketing systems). The campaign's opening record is durable
before the first byte; each batch's record (with its contact claims) before its lines; the
closing record holds the Merkle root of exactly what was sent — also when the client went away
mid-stream (`gateway/marketing/campaigns.py`, docs/CAMPAIGN-COMMITMENT.md).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.abc
from anyio import to_thread
from fastapi import APIRouter
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import record
from gateway.api.deps import CallerDep, NowDep, RequestIdDep, ServicesDep
from gateway.api.schemas import CampaignIn, DestructionIn
from gateway.errors import GatewayError
from gateway.freetext import refuse_national_id
from gateway.marketing.campaigns import (
    PERMISSION,
    CampaignRun,
    CampaignStore,
    checked_spec,
)
from gateway.pipeline import record_refusal, require_permission

log = logging.getLogger("gateway.campaigns")

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class CampaignStream(Response):
    """Streams a campaign and always closes it: `complete` after the summary line, else
    `disconnected` (or `failed`) with exactly the lines the client was sent."""

    def __init__(self, run: CampaignRun, index: int) -> None:
        super().__init__(media_type=MEDIA[run.spec.format],
                         headers={"X-Log-Index": str(index), "X-Campaign-Id": run.id})
        self.run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = ["disconnected"]  # unless it completes or fails

        async def stream(group: anyio.abc.TaskGroup) -> None:
            try:
                await send({"type": "http.response.start", "status": 200,
                            "headers": self.raw_headers})
                async for line in self.run.lines():
                    await send({"type": "http.response.body", "body": line.data,
                                "more_body": True})
                    self.run.sent_line(line)  # only what `send` took counts as sent
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                outcome[0] = "complete"
            except OSError:  # the connection broke under `send`
                outcome[0] = "disconnected"
            finally:
                group.cancel_scope.cancel()

        async def watch(group: anyio.abc.TaskGroup) -> None:
            while True:  # a client that goes away ends the stream at once
                message = await receive()
                if message["type"] == "http.disconnect":
                    group.cancel_scope.cancel()
                    return

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch, group)
                await stream(group)
        except BaseException:
            if outcome[0] != "complete":
                outcome[0] = "failed"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.run.close(outcome[0])
                except Exception as exc:  # noqa: BLE001 - the log failing is logged, not hidden
                    log.error("campaign close record failed: %s", type(exc).__name__)


@router.post("", summary="Run a campaign: eligible customers as NDJSON (or CSV), then a summary",
             response_class=Response,
             responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}})
async def run_campaign(body: CampaignIn, svc: ServicesDep, caller: CallerDep, now: NowDep,
                       rid: RequestIdDep) -> Response:
    policy = svc.policy.current
    try:
        spec = checked_spec(policy, caller, purpose=body.purpose, channel=body.channel,
                            reason=body.reason, ticket=body.ticket,
                            segment=[{"attribute": f.attribute, "view": f.view, "in": f.in_}
                                     for f in body.segment],
                            attributes=body.attributes, fmt=body.format)
    except GatewayError as exc:
        await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                             policy_version=policy.version)
        raise
    run = new_run(svc, policy, caller, spec, now, rid)
    # INVARIANT: the campaign's record is durable before any byte of the answer is sent
    index = await run.open()
    return CampaignStream(run, index)


def new_run(svc: Any, policy: Any, caller: Any, spec: Any, now: Any, rid: str) -> CampaignRun:
    return CampaignRun(policy=policy, caller=caller, spec=spec, now=now, request_id=rid,
                       access_log=svc.access_log, gateway_engine=svc.gateway_engine,
                       affiliates=svc.affiliates, consents=svc.consents,
                       contact_stops=svc.contact_stops, pseudonyms=svc.pseudonymizer)


async def _permitted(svc: Any, caller: Any, now: Any, rid: str) -> None:
    try:
        require_permission(svc.policy.current, caller, PERMISSION)
    except GatewayError as exc:
        await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                             policy_version=svc.policy.current.version)
        raise


@router.get("/{campaign_id}", summary="A campaign's progress and counts")
async def campaign_status(campaign_id: str, svc: ServicesDep, caller: CallerDep, now: NowDep,
                          rid: RequestIdDep) -> dict[str, Any]:
    await _permitted(svc, caller, now, rid)
    store = CampaignStore(svc.gateway_engine)
    found = await to_thread.run_sync(lambda: store.get(campaign_id, recipient=caller.affiliate))
    return found.as_dict()


@router.post("/{campaign_id}/destruction",
             summary="Confirm the campaign's data was destroyed (recorded)")
async def confirm_destruction(campaign_id: str, body: DestructionIn, svc: ServicesDep,
                              caller: CallerDep, now: NowDep,
                              rid: RequestIdDep) -> dict[str, Any]:
    await _permitted(svc, caller, now, rid)
    store = CampaignStore(svc.gateway_engine)
    try:
        refuse_national_id("reference", body.reference)
        await to_thread.run_sync(lambda: store.get(campaign_id, recipient=caller.affiliate))
    except GatewayError as exc:
        await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                             policy_version=svc.policy.current.version)
        raise
    # INVARIANT: the confirmation is recorded before it is stored and answered
    index = await record.append(svc.access_log, record.event_record(
        "campaign.destruction", request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=svc.policy.current.version, status=200, campaign=campaign_id,
        reference=body.reference))
    done = await to_thread.run_sync(lambda: store.confirm_destruction(
        campaign_id, recipient=caller.affiliate, now=now, index=index))
    return done.as_dict()
