"""A customer's access history (이용·제공 내역): read from the log's per-customer index, proved.

신용정보법 제35조 gives a customer the right to know who used or received their personal credit
information, when and for what, for the last three years. The log already holds every decision
about the customer; the per-customer index (`accesslog/customer_index.py`, written in the same
transaction as each record) lets a history read only that customer's records.

A page of history is:
- the entries, newest first: each one access record concerning the customer, with its time,
  the affiliate and system that received data (or acted), the attributes and views released or
  withheld, the purpose and its legal basis, the consents relied on, the use-by date when the
  record carries one, the record exactly as hashed and its RFC 9162 inclusion proof;
- a signed checkpoint (C2SP signed note) that every proof leads to, so the channel or the
  customer can check offline (`gateway-verify history FILE`) that this is the history logged;
- how many records it did not list because the policy exempts their purpose (`history:
  shown: false` with the law that allows it), per purpose — never dropped silently;
- the campaigns that included the customer (first page), each with the closing record, its
  proof in the log, and the customer's leaf with its proof in the campaign's Merkle tree;
- an opaque cursor for the next page. The cursor fixes the checkpoint (tree size) of the first
  page, so pages neither repeat nor skip entries while the log grows.

The caller (`api/routes/history.py`) resolves the customer and records the look-up itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, func, select

from gateway.accesslog import store
from gateway.accesslog.checkpoint import parse_checkpoint
from gateway.accesslog.customer_index import ENTRIES
from gateway.accesslog.errors import LogCorrupted
from gateway.accesslog.log import AccessLog
from gateway.db.models import Campaign, CampaignLeaf
from gateway.documents.kst import format_kst, format_kst_date
from gateway.documents.names import Name, Names
from gateway.domain import CustomerKey
from gateway.errors import ValidationFailed
from gateway.marketing.campaigns import CampaignStore
from gateway.policy.model import HistoryExemption, Policy

DEFAULT_YEARS = 3  # 신용정보법 제35조 (시행령 제30조의2): the last three years
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_VERSION = 1
_CURSOR = re.compile(r"[A-Za-z0-9_-]{8,400}")

_CAMPAIGNS: Table = Campaign.__table__  # type: ignore[assignment]
_LEAVES: Table = CampaignLeaf.__table__  # type: ignore[assignment]

# record kinds as a person reads them (kinds not listed are shown by their id)
KINDS: Mapping[str, tuple[str, str]] = {
    "query": ("정보 조회·제공", "data request"),
    "refused": ("요청 거부", "request refused"),
    "consent.grant": ("동의 등록", "consent granted"),
    "consent.withdraw": ("동의 철회", "consent withdrawn"),
    "consent.confirm": ("동의 재확인", "consent reconfirmed"),
    "consent.read": ("동의 내역 조회", "consents looked up"),
    "contact_stop.register": ("수신거부 등록", "contact stop registered"),
    "contact_stop.lift": ("수신거부 해제", "contact stop lifted"),
    "contact_stop.read": ("수신거부 내역 조회", "contact stops looked up"),
    "history": ("이용·제공 내역 조회", "access history looked up"),
    "policy.explain": ("정책 설명 조회", "policy explanation"),
}


class HistoryCursorInvalid(ValidationFailed):
    type_slug = "history-cursor-invalid"
    title = "history cursor is malformed or not from this log"


class HistoryPeriodInvalid(ValidationFailed):
    type_slug = "history-period-invalid"
    title = "history period is not a valid time range"


@dataclass(frozen=True, slots=True)
class Period:
    """[since, until), aware UTC datetimes."""

    since: datetime
    until: datetime

    @classmethod
    def of(cls, since: datetime | None, until: datetime | None, now: datetime) -> Period:
        """The period asked for; by default the last three years up to `now`."""
        for value in (since, until):
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise HistoryPeriodInvalid("`since` and `until` need a time zone offset")
        end = (until or now).astimezone(UTC)
        start = since.astimezone(UTC) if since is not None else _years_before(end, DEFAULT_YEARS)
        if start >= end:
            raise HistoryPeriodInvalid("`since` must be earlier than `until`")
        if start.year < 2000 or end.year > 9998:
            raise HistoryPeriodInvalid("the period must lie between the years 2000 and 9998")
        return cls(start, end)


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: entries below `before` in the tree of `tree_size`, within
    the first page's period. Opaque to callers (base64url of a small JSON object)."""

    tree_size: int
    before: int
    period: Period

    def encode(self) -> str:
        body = json.dumps({"v": CURSOR_VERSION, "n": self.tree_size, "b": self.before,
                           "s": _micros(self.period.since), "u": _micros(self.period.until)},
                          separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        if not _CURSOR.fullmatch(text):
            raise HistoryCursorInvalid("`cursor` is not a cursor this gateway gave")
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if not isinstance(raw, dict) or raw.get("v") != CURSOR_VERSION:
                raise ValueError
            n, b, s, u = (raw[k] for k in ("n", "b", "s", "u"))
            if not all(type(v) is int for v in (n, b, s, u)) or not 0 <= b <= n or s >= u:
                raise ValueError
            period = Period(_from_micros(s), _from_micros(u))
        except (ValueError, KeyError, TypeError, binascii.Error, OverflowError,
                UnicodeDecodeError):
            raise HistoryCursorInvalid("`cursor` is not a cursor this gateway gave") from None
        return cls(n, b, period)


def _micros(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _from_micros(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


@dataclass(frozen=True, slots=True)
class Entry:
    """One access record concerning the customer, as the history lists it."""

    log_index: int
    record: bytes  # exactly as hashed in the log
    proof: tuple[bytes, ...]  # RFC 9162 §2.1.3 audit path in the page's checkpoint tree
    fields: dict[str, Any]  # what a person reads (names, KST times), from the record


@dataclass(frozen=True, slots=True)
class Hidden:
    """Records not listed, by the policy's exemption of their purpose."""

    exemption: HistoryExemption
    count: int


@dataclass(frozen=True, slots=True)
class CampaignInclusion:
    campaign: str
    fields: dict[str, Any]
    closing_index: int
    closing_record: bytes
    closing_proof: tuple[bytes, ...]
    leaf: str
    leaf_index: int
    leaf_tree_size: int
    leaf_proof: tuple[str, ...]  # hex, as docs/CAMPAIGN-COMMITMENT.md


@dataclass(frozen=True, slots=True)
class HistoryPage:
    checkpoint: str  # the signed note every proof of the page leads to
    tree_size: int
    origin: str
    period: Period
    entries: tuple[Entry, ...]
    hidden: tuple[Hidden, ...]
    campaigns: tuple[CampaignInclusion, ...]
    next_cursor: str | None
    first_page: bool = field(default=True)

    @property
    def listed(self) -> int:
        return len(self.entries)


class AccessHistory:
    """Reads a customer's history from the gateway database and the access log."""

    def __init__(self, engine: Engine, access_log: AccessLog) -> None:
        self._engine = engine
        self._log = access_log
        self._campaigns = CampaignStore(engine)

    def page(self, customer: CustomerKey, policy: Policy, *, period: Period,
             cursor: Cursor | None = None, limit: int = DEFAULT_LIMIT) -> HistoryPage:
        if not 1 <= limit <= MAX_LIMIT:
            raise HistoryPeriodInvalid(f"`limit` must be 1 to {MAX_LIMIT}")
        if cursor is None:
            note = self._log.checkpoint()  # signs the head if it grew: every entry is proved
            before = None
        else:
            found = self._log.checkpoint_at(cursor.tree_size)
            if found is None:
                raise HistoryCursorInvalid("`cursor` is not a cursor this gateway gave")
            note, period, before = found, cursor.period, cursor.before
        checkpoint = parse_checkpoint(note.split("\n\n", 1)[0] + "\n")
        size = checkpoint.size
        upper = size if before is None else min(before, size)
        hidden: dict[str, HistoryExemption] = {
            p.id: p.history_exemption for p in policy.purposes.values()
                  if p.history_exemption is not None}
        names = Names.of(policy)
        with self._engine.connect() as conn:
            rows = _listed(conn, customer, upper, period, sorted(hidden), limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            indexes = [i for i in rows]
            records = store.read_records(conn, indexes)
            proofs = store.prove_inclusions(conn, indexes, size) if indexes else {}
            counts = _hidden_counts(conn, customer, size, period, sorted(hidden))
            campaigns = (self._campaign_inclusions(conn, customer, size, period, names)
                         if cursor is None else [])
        entries = []
        for index in indexes:
            data = records.get(index)
            if data is None:  # the index names a record the log lacks: fail closed
                raise LogCorrupted(f"access log leaf {index} is missing")
            entries.append(Entry(index, data, tuple(proofs[index]),
                                 describe(json.loads(data), names)))
        next_cursor = (Cursor(size, indexes[-1], period).encode() if more and indexes else None)
        return HistoryPage(
            checkpoint=note, tree_size=size, origin=checkpoint.origin, period=period,
            entries=tuple(entries),
            hidden=tuple(Hidden(hidden[p], n) for p, n in sorted(counts.items())),
            campaigns=tuple(campaigns), next_cursor=next_cursor, first_page=cursor is None)

    def _campaign_inclusions(self, conn: Connection, customer: CustomerKey, size: int,
                             period: Period, names: Names) -> list[CampaignInclusion]:
        rows = conn.execute(
            select(_CAMPAIGNS.c.id, _CAMPAIGNS.c.close_index, _CAMPAIGNS.c.created_at,
                   _CAMPAIGNS.c.purpose, _CAMPAIGNS.c.channel, _CAMPAIGNS.c.recipient,
                   _CAMPAIGNS.c.system, _CAMPAIGNS.c.use_by)
            .where(_CAMPAIGNS.c.id.in_(select(_LEAVES.c.campaign_id).where(
                       _LEAVES.c.customer_key == customer).scalar_subquery()),
                   _CAMPAIGNS.c.close_index.is_not(None), _CAMPAIGNS.c.close_index < size,
                   _CAMPAIGNS.c.created_at >= period.since,
                   _CAMPAIGNS.c.created_at < period.until)
            .order_by(_CAMPAIGNS.c.close_index.desc())).all()
        found = []
        for row in rows:
            proof = self._campaigns.inclusion(row.id, customer)
            if proof is None:  # in a batch that was recorded but never sent: not included
                continue
            closing = int(row.close_index)
            closing_record = store.read_record(conn, closing)
            if closing_record is None:
                raise LogCorrupted(f"access log leaf {closing} is missing")
            path = store.prove_inclusions(conn, [closing], size)[closing]
            purpose = names.purpose(row.purpose)
            affiliate, system = names.affiliate(row.recipient), names.system(row.system)
            found.append(CampaignInclusion(
                campaign=row.id, closing_index=closing, closing_record=closing_record,
                closing_proof=tuple(path), leaf=str(proof["leaf"]), leaf_index=int(proof["index"]),
                leaf_tree_size=int(proof["tree_size"]), leaf_proof=tuple(proof["proof"]),
                fields={"time": _rfc3339(row.created_at), "time_kst": format_kst(row.created_at),
                        "affiliate": _name(affiliate), "system": _name(system),
                        "purpose": {**_name(purpose),
                                    "legal_basis": names.legal_basis(row.purpose)},
                        "channel": _name(names.channel(row.channel)),
                        "use_by": _rfc3339(row.use_by)}))
        return found


def _period_clause(period: Period) -> Any:
    return and_(ENTRIES.c.at >= period.since, ENTRIES.c.at < period.until)


def _listed(conn: Connection, customer: str, upper: int, period: Period,
            hidden: Sequence[str], limit: int) -> list[int]:
    """The log indexes of the customer's listed records below `upper`, newest first."""
    query = (select(ENTRIES.c.log_index)
             .where(ENTRIES.c.customer_key == customer, ENTRIES.c.log_index < upper,
                    _period_clause(period))
             .order_by(ENTRIES.c.log_index.desc()).limit(limit))
    if hidden:
        query = query.where((ENTRIES.c.purpose.is_(None)) | ENTRIES.c.purpose.not_in(hidden))
    return [int(i) for (i,) in conn.execute(query)]


def _hidden_counts(conn: Connection, customer: str, size: int, period: Period,
                   hidden: Sequence[str]) -> dict[str, int]:
    if not hidden:
        return {}
    rows = conn.execute(
        select(ENTRIES.c.purpose, func.count())
        .where(ENTRIES.c.customer_key == customer, ENTRIES.c.log_index < size,
               _period_clause(period), ENTRIES.c.purpose.in_(hidden))
        .group_by(ENTRIES.c.purpose))
    return {str(p): int(n) for p, n in rows}


# --- one record as a person reads it ---------------------------------------------------------
def _name(name: Name) -> dict[str, str]:
    return {"id": name.id, "name_ko": name.ko, "name_en": name.en}


def _rfc3339(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def describe(record: Mapping[str, Any], names: Names) -> dict[str, Any]:
    """The entry's readable fields, all taken from the record (the verifier checks they are).

    `use_by` is read where a release carries it (`released[].use_by`) or from the record."""
    kind = str(record.get("kind", ""))
    ko, en = KINDS.get(kind, (kind, kind))
    time_text = record.get("time")
    actor = record.get("actor") if isinstance(record.get("actor"), dict) else None
    purpose_id = record.get("purpose") if isinstance(record.get("purpose"), str) else None
    released = []
    use_by: list[str] = []
    for item in record.get("released") or []:
        if not isinstance(item, dict):
            continue
        attribute, view = str(item.get("attribute")), str(item.get("view"))
        entry = {**_name(names.attribute(attribute)), "view": _name(names.view(attribute, view)),
                 "consent": item.get("consent")}
        if isinstance(item.get("use_by"), str):
            entry["use_by"] = item["use_by"]
            use_by.append(item["use_by"])
        released.append(entry)
    if isinstance(record.get("use_by"), str):
        use_by.append(record["use_by"])
    withheld = [{**_name(names.attribute(str(w.get("attribute")))),
                 "reason": _name(names.reason(str(w.get("reason"))))}
                for w in record.get("withheld") or [] if isinstance(w, dict)]
    decision = record.get("decision")
    if kind == "query" and isinstance(decision, str):
        outcome = decision
    elif kind == "refused":
        outcome = "refused"
    else:
        outcome = "recorded"
    outcome_ko, outcome_en = {"allow": ("제공", "released"),
                              "partial": ("일부 제공", "partly released"),
                              "deny": ("제공하지 않음", "withheld"),
                              "refused": ("요청 거부", "refused"),
                              "recorded": ("기록", "recorded")}.get(outcome, (outcome, outcome))
    consents = record.get("consents")
    if not isinstance(consents, list):
        consents = [record["consent"]] if isinstance(record.get("consent"), str) else []
    return {
        "kind": {"id": kind, "name_ko": ko, "name_en": en},
        "time": time_text if isinstance(time_text, str) else None,
        "time_kst": format_kst(time_text) if isinstance(time_text, str) else None,
        "affiliate": _name(names.affiliate(str(actor["affiliate"]))) if actor else None,
        "system": _name(names.system(str(actor["system"]))) if actor else None,
        "purpose": ({**_name(names.purpose(purpose_id)),
                     "legal_basis": names.legal_basis(purpose_id)} if purpose_id else None),
        "outcome": {"id": outcome, "name_ko": outcome_ko, "name_en": outcome_en},
        "released": released,
        "withheld": withheld,
        "consents": [str(c) for c in consents],
        "use_by": max(use_by) if use_by else None,
        "use_by_kst": format_kst_date(max(use_by)) if use_by else None,
    }

