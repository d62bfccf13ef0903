"""Record step: build the access record of a decision and append it durably to the log.

Fields follow the access-record items of the 개인정보의 안전성 확보조치 기준 (고시) 제8조:
account (affiliate, system, employee), date and time, where from, whose data (customer key,
never an RRN), what was done (purpose, attributes requested, released with views, withheld
with reasons, decision) — plus request id, policy version and the consents relied on.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timezone
from typing import Any, Protocol, Sequence

from gateway.accesslog.contacts import ContactClaim
from gateway.accesslog.log import TokenClaim
from gateway.accesslog.usage import Usage
from gateway.domain import AttributeRequest, Caller, CustomerKey, Decision
from gateway.errors import GatewayError, LogWriteFailed
from gateway.shape import Shaped

log = logging.getLogger("gateway.record")

RECORD_VERSION = 1


class AppendOnlyLog(Protocol):
    async def append_async(self, record: dict[str, Any], *,
                           token: TokenClaim | None = None,
                           contacts: Sequence[ContactClaim] = (),
                           usage: Usage | None = None) -> int: ...


def timestamp(now: datetime) -> str:
    """RFC 3339 UTC with microseconds: sortable, unambiguous (`2026-12-05T02:00:00.000000Z`)."""
    utc = now.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def actor(caller: Caller | None) -> dict[str, str] | None:
    if caller is None:
        return None
    return {"affiliate": caller.affiliate, "system": caller.system, "employee": caller.employee}


def query_record(*, request_id: str, now: datetime, caller: Caller, source: str | None,
                 customer: CustomerKey | None, requested: Sequence[AttributeRequest],
                 decision: Decision, shaped: Shaped,
                 use_by: str | None = None) -> dict[str, Any]:
    """`use_by`: the KST date by which the recipient destroys every released item
    (`gateway.rights.useby`); each released item carries it."""
    return {
        "v": RECORD_VERSION,
        "kind": "query",
        "time": timestamp(now),
        "request_id": request_id,
        "actor": actor(caller),
        "source": source,
        "customer": customer,
        "purpose": decision.purpose,
        "requested": [{"attribute": r.attribute, "view": r.view} for r in requested],
        "released": [
            {"attribute": r.attribute, "view": r.view, "rule": r.rule, "consent": r.consent,
             # free text: how many identifiers of each kind were replaced (never which)
             **({"scrubbed": dict(shaped.scrubbed[r.attribute])}
                if r.attribute in shaped.scrubbed else {}),
             # marketing: when the customer may be contacted (정보통신망법 제50조 ③)
             **({"contact_window": r.contact_window} if r.contact_window else {}),
             **({"use_by": use_by} if use_by is not None else {})}
            for r, _value in shaped.released
        ],
        "withheld": [{"attribute": w.attribute, "reason": w.reason.value} for w in shaped.withheld],
        "decision": shaped.outcome,
        "policy_version": decision.policy_version,
        "consents": sorted({r.consent for r, _ in shaped.released if r.consent}),
        **({"contact_stops": list(decision.stop_ids)} if decision.stop_ids else {}),
        "status": 200,
    }


def this_process() -> dict[str, object]:
    """Which gateway process made an event (several processes share one log)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def event_record(kind: str, *, request_id: str, now: datetime, caller: Caller | None,
                 source: str | None, policy_version: str | None, status: int | None,
                 customer: CustomerKey | None = None, **fields: Any) -> dict[str, Any]:
    """Consent changes, refusals and other events; `fields` must hold no personal identifier."""
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "kind": kind,
        "time": timestamp(now),
        "request_id": request_id,
        "actor": actor(caller),
        "source": source,
        "customer": customer,
        "policy_version": policy_version,
        "status": status,
    }
    record.update(fields)
    return record


def unauthenticated_refusals_record(*, now: datetime, source: str | None,
                                    policy_version: str | None, minute: str, first: str,
                                    last: str, count: int, problems: dict[str, dict[str, int]],
                                    request_ids: list[str]) -> dict[str, Any]:
    """One source's unauthenticated refusals in one minute (`gateway.unauthenticated`):
    no actor (none was proven), no single request (`request_ids` is a sample of them) and no
    single status (each problem type carries its own)."""
    return event_record(
        "refusals.unauthenticated", request_id=str(uuid.uuid4()), now=now, caller=None,
        source=source, policy_version=policy_version, status=None, minute=minute,
        first=first, last=last, count=count, problems=problems, request_ids=request_ids,
        process=this_process())


async def append(access_log: AppendOnlyLog, record: dict[str, Any], *,
                 token: TokenClaim | None = None,
                 contacts: Sequence[ContactClaim] = (), usage: Usage | None = None) -> int:
    """Append and wait for durability. INVARIANT: no response is built before this returns.

    With `token`, the request's token id is claimed in the same commit (`TokenReplayed`, and
    no record, when it was used before). With `contacts`, the marketing contacts the record
    releases are counted against their caps in the same commit (`ContactCapReached`, and no
    record, when one is at its cap). With `usage`, the request is counted against its rate
    limits in the same commit (`RateLimited`, and no record, beyond one).
    """
    try:
        if contacts or usage is not None:
            return await access_log.append_async(record, token=token, contacts=contacts,
                                                 usage=usage)
        return await access_log.append_async(record, token=token)
    except GatewayError:  # LogWriteFailed included: already the right answer
        raise
    except Exception as exc:  # fail closed on anything the log did not foresee
        log.error("access log append failed: %s", type(exc).__name__)
        raise LogWriteFailed("access record could not be made durable") from exc
