"""What the console shows of the access log: checkpoints, their history, recent alerts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from gateway.accesslog import store
from gateway.console.i18n import kst
from gateway.services import Services

ALERT_SCAN = 5000  # alerts are looked for among this many of the latest records
_STANDARD = {"v", "kind", "time", "request_id", "actor", "source", "customer",
             "policy_version", "status"}


@dataclass(frozen=True, slots=True)
class CheckpointView:
    origin: str
    size: int
    root: str  # base64, as signed
    signed_at: datetime | None
    note: str  # the whole signed note, as a verifier takes it


@dataclass(frozen=True, slots=True)
class AlertView:
    index: int
    time: str
    who: str
    details: list[tuple[str, str]]


def _view(note: str, created_at: datetime | None) -> CheckpointView:
    lines = note.split("\n")
    size = int(lines[1]) if len(lines) > 2 and lines[1].isdigit() else 0
    if created_at is not None and created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=timezone.utc)  # SQLite keeps naive UTC
    return CheckpointView(origin=lines[0], size=size, root=lines[2] if len(lines) > 2 else "",
                          signed_at=created_at, note=note)


def checkpoints(services: Services, limit: int) -> list[CheckpointView]:
    """The latest `limit` signed checkpoints, newest first."""
    table = store.checkpoints
    with services.log_engine.connect() as conn:
        rows = conn.execute(select(table.c.note, table.c.created_at)
                            .order_by(table.c.size.desc()).limit(limit)).all()
    return [_view(str(row.note), row.created_at) for row in rows]


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return kst(value) if name.endswith(("_start", "_end", "time")) else value
    return json.dumps(value, ensure_ascii=False)


def _who(actor: Any) -> str:
    if not isinstance(actor, dict):
        return ""
    return " / ".join(str(actor[k]) for k in ("affiliate", "system", "employee") if actor.get(k))


def recent_alerts(services: Services, limit: int = 20, scan: int = ALERT_SCAN
                  ) -> tuple[list[AlertView], int]:
    """`alert` records among the latest `scan` records, newest first; and how many were read."""
    size = services.access_log.size()
    start = max(0, size - scan)
    found: list[AlertView] = []
    for offset, raw in enumerate(services.access_log.iter_records(start, size)):
        if b'"kind":"alert"' not in raw:  # canonical JSON: no space after the colon
            continue
        doc = json.loads(raw)
        details: list[tuple[str, str]] = []
        for key, value in sorted(doc.items()):
            if key in _STANDARD:
                continue
            # one level of nesting is opened up (the limits' `alert: {measure, count, ...}`)
            items = sorted(value.items()) if isinstance(value, dict) else [(key, value)]
            details += [(name, _text(name, item)) for name, item in items if item is not None]
        found.append(AlertView(index=start + offset, time=str(doc.get("time", "")),
                               who=_who(doc.get("actor")), details=details))
    found.reverse()
    return found[:limit], size - start
