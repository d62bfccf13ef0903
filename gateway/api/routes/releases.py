"""`POST /v1/releases/destruction`: a recipient confirms it destroyed what it received.

Each release carries a use-by day (`gateway.rights.useby`); when it passes, the recipient
destroys the data (개인정보 보호법 제21조) and confirms here, naming the log indexes of the
access records that released it to its affiliate (system with `query`) or its campaigns (system
with `campaign:run`). The confirmation is an access record (`release.destruction`), durable
before it is applied; `gateway review overdue` lists what is past its use-by without one.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter

from gateway import record
from gateway.api.deps import CallerDep, NowDep, RequestIdDep, ServicesDep
from gateway.api.schemas import ReleaseOut, ReleasesDestructionIn, ReleasesDestructionOut
from gateway.errors import GatewayError
from gateway.freetext import refuse_national_id
from gateway.marketing.campaigns import CampaignStore
from gateway.pipeline import record_refusal, require_permission
from gateway.rights.releases import DESTRUCTION_KIND, release_index

router = APIRouter(prefix="/v1/releases", tags=["releases"])


@router.post("/destruction", response_model=ReleasesDestructionOut,
             summary="Confirm that released data was destroyed (recorded)")
async def confirm_destruction(body: ReleasesDestructionIn, svc: ServicesDep, caller: CallerDep,
                              now: NowDep, rid: RequestIdDep) -> ReleasesDestructionOut:
    policy = svc.policy.current
    index_of = release_index(svc.gateway_engine, svc.access_log)
    campaigns = CampaignStore(svc.gateway_engine)
    named = sorted(set(body.log_indexes))
    campaign_ids = sorted(set(body.campaign_ids))

    def check() -> None:
        if named:
            require_permission(policy, caller, "query")
        if campaign_ids:
            require_permission(policy, caller, "campaign:run")
        refuse_national_id("reference", body.reference)
        # another affiliate's release or campaign answers like one that does not exist
        index_of.owned(named, caller.affiliate)
        for campaign_id in campaign_ids:
            campaigns.get(campaign_id, recipient=caller.affiliate)

    try:
        await to_thread.run_sync(check)
    except GatewayError as exc:
        await record_refusal(svc, exc, request_id=rid, now=now, caller=caller,
                             policy_version=policy.version)
        raise
    # INVARIANT: the confirmation is recorded before it is applied and answered
    index = await record.append(svc.access_log, record.event_record(
        DESTRUCTION_KIND, request_id=rid, now=now, caller=caller, source=caller.source,
        policy_version=policy.version, status=200, releases=named, campaigns=campaign_ids,
        reference=body.reference))

    def apply() -> tuple[list[ReleaseOut], list[dict[str, Any]]]:
        index_of.catch_up(index + 1)  # the follower applies the record just written
        rows = [ReleaseOut(log_index=r.log_index, use_by=r.use_by.isoformat(),
                           destruction_index=r.destruction_index)
                for r in index_of.rows(named)]
        done = [campaigns.confirm_destruction(c, recipient=caller.affiliate, now=now,
                                              index=index).as_dict() for c in campaign_ids]
        return rows, done

    releases, done = await to_thread.run_sync(apply)
    return ReleasesDestructionOut(request_id=rid, log_index=index, releases=releases,
                                  campaigns=done)
