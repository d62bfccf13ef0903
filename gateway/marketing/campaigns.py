"""Campaign extraction: a segment's eligible customers, streamed, with one commitment in the log.

Issue #10. A marketing system asks for a purpose and channel, a reason, a ticket and a segment;
the gateway walks the group's customers in batches (keyset pagination on `customer_key`: never
a whole table in memory, one SELECT per source and batch), keeps those matching the segment
(`segments.py`), decides each with the very `decide` of the query path (consent × channel ×
stop × cap) and shapes the released contact attributes with the same `shape`. Each eligible
customer is one line: the recipient's pseudonym, the released values in their views, the contact
window and the use-by date; a last line sums up.

The log, in order (docs/CAMPAIGN-COMMITMENT.md):
- `campaign.open` (who, reason, ticket, segment, policy version, use-by) — INVARIANT: durable
  before any byte of the answer is sent;
- `campaign.batch` per batch that releases anyone, carrying the batch's contact claims (caps
  counted under the log's lock, `accesslog/contacts.py`) — INVARIANT: durable before that
  batch's lines are sent;
- `campaign.close` with the counts and the RFC 9162 Merkle root over the leaves of exactly the
  lines that were sent (all of them, or — for a client that went away — those sent before).
  Leaves are kept in `campaign_leaves` so that one customer's inclusion can be proved later.

Use-by: now + the purpose's `retention_days`, at most 30 days where a legal basis is
금융지주회사법 제48조의2 (internal management; the loader refuses a longer one, P039).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from anyio import to_thread
from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update

from gateway import record
from gateway.accesslog.canonical import canonical_json
from gateway.db.reader import Reader
from gateway.accesslog.contacts import ContactClaim
from gateway.accesslog.errors import ContactCapReached
from gateway.accesslog.merkle import CompactRange, inclusion_ranges, leaf_hash
from gateway.accesslog.store import insert_rows
from gateway.db.models import Campaign as CampaignRow
from gateway.db.models import CampaignLeaf, Customer
from gateway.domain import (
    AttributeId,
    AttributeRequest,
    Caller,
    Category,
    Channel,
    CustomerKey,
    Decision,
    DecisionRequest,
    PurposeId,
)
from gateway.errors import NotFound, UnknownChannel, UnknownPurpose
from gateway.errors import ValidationFailed
from gateway.fetch import fetch_many
from gateway.freetext import refuse_national_id
from gateway.marketing.segments import Filter, checked_segment, matches
from gateway.policy import Policy, decide
from gateway.policy.loader import CAMPAIGN_RETENTION_48_2_DAYS
from gateway.rights.useby import retention_days
from gateway.shape import Shaped, shape

# Customers per batch: memory stays flat whatever the group's size. The first batch is small so
# that the first line comes soon; each next one doubles up to BATCH, where a batch's fixed costs
# (its reads, its record's commit, its leaves' commit) are shared by thousands of customers.
FIRST_BATCH = 500
BATCH = 4000
FORMATS = ("ndjson", "csv")
LEAF_READ_BATCH = 10_000  # leaves fetched at a time when a proof streams a campaign's leaves
PERMISSION = "campaign:run"

_CAMPAIGNS: Table = CampaignRow.__table__  # type: ignore[assignment]
_LEAVES: Table = CampaignLeaf.__table__  # type: ignore[assignment]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_INSERT_LEAF = insert(_LEAVES).values(campaign_id=bindparam("campaign_id"),
                                      position=bindparam("position"),
                                      customer_key=bindparam("customer_key"),
                                      leaf=bindparam("leaf"))


class CampaignInvalid(ValidationFailed):
    type_slug = "campaign-invalid"
    title = "the campaign request is not one the policy allows"


class CampaignNotFound(NotFound):
    type_slug = "campaign-not-found"
    title = "no such campaign for this recipient"


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A checked campaign request."""

    purpose: PurposeId
    channel: str
    reason: str
    ticket: str
    filters: tuple[Filter, ...]
    attributes: tuple[AttributeRequest, ...]
    format: str = "ndjson"


def checked_spec(policy: Policy, caller: Caller, *, purpose: str, channel: str, reason: str,
                 ticket: str, segment: Sequence[Mapping[str, Any]],
                 attributes: Sequence[str] | None = None, fmt: str = "ndjson") -> CampaignSpec:
    """The request checked against the policy; each refusal names what is wrong, never what
    was sent (a reason holding a national id is refused, and never stored)."""
    from gateway.pipeline import require_permission  # the pipeline imports marketing.caps

    require_permission(policy, caller, PERMISSION)
    found = policy.purposes.get(PurposeId(purpose))
    if found is None:
        raise UnknownPurpose("campaign purpose is not in the policy")
    try:
        named = Channel(channel)
    except ValueError:
        raise UnknownChannel("`channel` is not a contact channel of the policy") from None
    if named not in policy.channels:
        raise UnknownChannel("`channel` is not a contact channel of the policy")
    if not found.marketing or not found.consent_required:
        raise CampaignInvalid(f"purpose `{found.id}` needs no consent: a campaign under it "
                              "cannot name a contact channel")
    if found.channel != named.value:
        raise CampaignInvalid(f"purpose `{found.id}` is for channel `{found.channel}`, not the "
                              "one named")
    refuse_national_id("reason", reason)
    refuse_national_id("ticket", ticket)
    if fmt not in FORMATS:
        raise CampaignInvalid("`format` must be `ndjson` or `csv`")
    filters = checked_segment(policy, caller.affiliate, caller.system, found.id, segment)
    rules = [r for r in policy.rules_for(caller.affiliate, found.id)
             if r.permits_system(caller.system)]
    granted = {a for r in rules for a in r.attributes}
    contact = [a for a in policy.attributes.values()
               if a.category is Category.CONTACT and a.id in granted]
    if attributes is not None:
        chosen = []
        for name in attributes:
            attribute = policy.attributes.get(AttributeId(name))
            if attribute is None or attribute not in contact:
                raise CampaignInvalid("`attributes` may name only contact attributes a rule "
                                      f"grants `{caller.affiliate}` for `{found.id}`")
            chosen.append(attribute)
        contact = chosen
    if not contact:
        raise CampaignInvalid(f"no rule grants `{caller.affiliate}` a contact attribute for "
                              f"`{found.id}`")
    return CampaignSpec(found.id, named.value, reason, ticket, filters,
                        tuple(AttributeRequest(a.id) for a in contact), fmt)


def use_by(policy: Policy, purpose: PurposeId, now: datetime) -> datetime:
    """now + the purpose's retention as every release reckons it (`gateway.rights.useby`: its KST
    date is the `use_by` a query released now carries); at most 30 days under 제48조의2 (P039)."""
    found = policy.purposes[purpose]
    days = retention_days(found)
    if found.cites_48_2:
        days = min(days, CAMPAIGN_RETENTION_48_2_DAYS)
    return now + timedelta(days=days)


@dataclass(slots=True)
class _Outcome:
    key: CustomerKey
    decision: Decision
    consents: Sequence[Any]
    stops: Sequence[Any]
    shaped: Shaped | None = None  # when the decision released something

    @property
    def eligible(self) -> bool:
        return self.shaped is not None and bool(self.shaped.released)

    @property
    def reason(self) -> str:
        withheld = self.shaped.withheld if self.shaped is not None else self.decision.withheld
        return withheld[0].reason.value if withheld else "no_data"


@dataclass(slots=True)
class _Batch:
    last: CustomerKey
    candidates: int
    outcomes: list[_Outcome] = field(default_factory=list)
    values: dict[CustomerKey, dict[AttributeId, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Line:
    """One customer line: its bytes and the leaf it commits to (None: the summary line)."""

    data: bytes
    leaf: bytes | None = None


# keyset pagination of the registry, by primary key (one reader per engine, kept)
_KEYS = select(_CUSTOMERS.c.customer_key).order_by(_CUSTOMERS.c.customer_key)
_KEY_READERS: weakref.WeakKeyDictionary[Engine, Reader] = weakref.WeakKeyDictionary()


def _keys_reader(engine: Engine) -> Reader:
    reader = _KEY_READERS.get(engine)
    if reader is None:
        reader = _KEY_READERS[engine] = Reader(engine, name="customer registry")
    return reader


class CampaignRun:
    """One campaign: `open()`, iterate `lines()` marking each line `sent()`, then `close()`."""

    def __init__(self, *, policy: Policy, caller: Caller, spec: CampaignSpec, now: datetime,
                 request_id: str, access_log: record.AppendOnlyLog, gateway_engine: Engine,
                 affiliates: Any, consents: Any, contact_stops: Any, pseudonyms: Any,
                 batch_size: int = BATCH) -> None:
        self.id = "cmp_" + secrets.token_urlsafe(16)
        self.policy, self.caller, self.spec, self.now = policy, caller, spec, now
        self.request_id = request_id
        self.use_by = use_by(policy, spec.purpose, now)
        self._use_by_text = record.timestamp(self.use_by)
        self._log = access_log
        self._engine = gateway_engine
        self._affiliates = affiliates
        self._consents = consents
        self._stops = contact_stops
        self._pseudonyms = pseudonyms
        self._batch_size = batch_size
        self.candidates = 0
        self.released = 0
        self.withheld: dict[str, int] = {}
        self.sent = 0
        self._tree = CompactRange()
        self._positions = 0  # leaves stored so far
        self._batches = 0
        self.open_index: int | None = None
        self.close_index: int | None = None
        self.status = "running"
        cap = policy.cap_for(spec.channel)
        self._cap = cap
        self._window_start = now - timedelta(days=cap.window_days) if cap else now
        self._fields = [a.attribute for a in spec.attributes]
        self._keys = _keys_reader(gateway_engine)
        # one request for every customer: the decision reads the customer's part (consents,
        # stops, count) from its other arguments
        self._request = DecisionRequest(caller=caller, purpose=spec.purpose,
                                        attributes=spec.attributes, customer_known=True, now=now)

    # --- opening ----------------------------------------------------------------------------
    async def open(self) -> int:
        """The opening record, durable; then the campaign's row. Nothing streams before."""
        index = await record.append(self._log, record.event_record(
            "campaign.open", request_id=self.request_id, now=self.now, caller=self.caller,
            source=self.caller.source, policy_version=self.policy.version, status=200,
            campaign=self.id, purpose=self.spec.purpose, channel=self.spec.channel,
            reason=self.spec.reason, ticket=self.spec.ticket,
            segment=[f.as_dict() for f in self.spec.filters], attributes=self._fields,
            use_by=record.timestamp(self.use_by), format=self.spec.format))
        self.open_index = index
        await to_thread.run_sync(self._insert_row, index)
        return index

    def _insert_row(self, index: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(_CAMPAIGNS).values(
                id=self.id, recipient=self.caller.affiliate, system=self.caller.system,
                employee=self.caller.employee, purpose=self.spec.purpose,
                channel=self.spec.channel, reason=self.spec.reason, ticket=self.spec.ticket,
                segment=canonical_json([f.as_dict() for f in self.spec.filters]).decode(),
                policy_version=self.policy.version, status="running", created_at=self.now,
                use_by=self.use_by, candidates=0, released=0, sent=0, withheld="{}",
                open_index=index))

    # --- the stream -------------------------------------------------------------------------
    async def lines(self) -> AsyncIterator[Line]:
        """The header (CSV), one line per eligible customer, then the summary line."""
        if self.spec.format == "csv":
            yield Line(self._csv(["pseudonym", *self._fields, "contact_window", "use_by"]))
        # The next batch is read and decided while this one is recorded, stored and sent: the
        # batches are disjoint sets of customers, and a contact cap reached meanwhile by
        # anyone is caught anyway when the batch's record is written (under the log's lock).
        size = min(FIRST_BATCH, self._batch_size)
        with ThreadPoolExecutor(1, thread_name_prefix="campaign-prefetch") as prefetch:
            upcoming = prefetch.submit(self._prepare, None, size)
            try:
                while True:
                    batch = await asyncio.wrap_future(upcoming)
                    if batch is None:
                        break
                    size = min(2 * size, self._batch_size)
                    upcoming = prefetch.submit(self._prepare, batch.last, size)
                    eligible = await self._recorded(batch)
                    leaves = await to_thread.run_sync(self._store_leaves, eligible, batch)
                    for (line, leaf) in leaves:
                        yield Line(line, leaf)
            finally:
                upcoming.cancel()  # a client gone: the prepared batch is dropped, unsent
        summary = {"summary": self.summary()}
        yield Line(self._csv(["#summary", json.dumps(summary["summary"], ensure_ascii=False)])
                   if self.spec.format == "csv"
                   else json.dumps(summary, ensure_ascii=False).encode() + b"\n")

    def sent_line(self, line: Line) -> None:
        """`line` reached the client: its leaf now counts in the commitment."""
        if line.leaf is not None:
            self._tree.append(leaf_hash(line.leaf))
            self.sent += 1

    def summary(self) -> dict[str, Any]:
        return {"campaign": self.id, "candidates": self.candidates, "released": self.released,
                "withheld": dict(sorted(self.withheld.items())),
                "use_by": record.timestamp(self.use_by)}

    def _prepare(self, after: CustomerKey | None, n: int) -> _Batch | None:
        """One batch: the next `n` customers by key, the segment, the decision, the shaping."""
        # keyset pagination on the primary key, compiled once per size, on the reader's connection
        key = ("first" if after is None else "next", n)
        prepared = self._keys.prepared(key)
        if prepared is None:
            statement = _KEYS.limit(n)
            if after is not None:
                statement = statement.where(_CUSTOMERS.c.customer_key > bindparam("after"))
            prepared = self._keys.prepare(key, statement)
        keys = [CustomerKey(k) for (k,) in self._keys.all(
            prepared, {} if after is None else {"after": after})]
        if not keys:
            return None
        policy = self.policy
        if self.spec.filters:
            attributes = [policy.attributes[a] for a in dict.fromkeys(
                f.attribute for f in self.spec.filters)]
            found = fetch_many(self._affiliates, attributes, keys)
            today = record_day(self.now)
            candidates = [k for k in keys if matches(policy, self.spec.filters, found[k], today)]
        else:
            candidates = keys
        batch = _Batch(keys[-1], len(candidates))
        if not candidates:
            return batch
        consents = self._consents.for_customers(candidates, recipient=self.caller.affiliate,
                                                purpose=self.spec.purpose)
        stops = self._stops.active_for_many(candidates, self.now)
        # Contact counts are not read here: the log's writer counts every released contact
        # against its cap under the append lock (exact across processes), and a customer it
        # finds at the cap is decided again at that count (`_recorded`). Reading them here too
        # cost a query per batch and still could not be trusted.
        # The decision is pure and does not depend on who the customer is, only on the request
        # and the customer's consents, stops and count: the many customers with no consent and
        # no stop all get the same decision, worked out once per batch.
        alike: _Outcome | None = None
        for k in candidates:
            if consents[k] or stops[k]:
                batch.outcomes.append(self._decide(k, consents[k], stops[k], 0))
                continue
            if alike is None:
                alike = self._decide(k, (), (), 0)  # nothing released: the count is moot
            batch.outcomes.append(_Outcome(k, alike.decision, (), ()))
        self._shape(batch, batch.outcomes)
        return batch

    def _decide(self, key: CustomerKey, consents: Any, stops: Any, contacts: int) -> _Outcome:
        return _Outcome(key, decide(self.policy, self._request, consents, stops=stops,
                                    contacts=contacts), consents, stops)

    def _shape(self, batch: _Batch, outcomes: Sequence[_Outcome]) -> None:
        """Fetch the released values of the batch (one read per source) and shape them."""
        wanted = [o for o in outcomes if o.decision.released]
        if not wanted:
            return
        attributes = [self.policy.attributes[a] for a in dict.fromkeys(
            r.attribute for o in wanted for r in o.decision.released)]
        batch.values.update(fetch_many(self._affiliates, attributes, [o.key for o in wanted]))
        today = record_day(self.now)
        for o in wanted:
            o.shaped = shape(self.policy, o.decision, batch.values[o.key], today=today)

    async def _recorded(self, batch: _Batch) -> list[_Outcome]:
        """The batch's record, durable with its contact claims; customers at their cap (found
        under the log's lock) are decided again (`contact_cap`) until the record is written."""
        while True:
            eligible = [o for o in batch.outcomes if o.eligible]
            if not eligible:
                break
            claims = [ContactClaim(o.key, self.spec.channel, self.now, self._window_start,
                                   self._cap.max) for o in eligible] if self._cap else []
            try:
                await record.append(self._log, record.event_record(
                    "campaign.batch", request_id=self.request_id, now=self.now,
                    caller=self.caller, source=self.caller.source,
                    policy_version=self.policy.version, status=200, campaign=self.id,
                    batch=self._batches, released=len(eligible),
                    first_position=self._positions), contacts=claims)
                break
            except ContactCapReached as full:
                again = {CustomerKey(k): n for (k, _channel), n in full.counts.items()}
                batch.outcomes = [
                    self._redecided(o, again[o.key]) if o.key in again else o
                    for o in batch.outcomes]
                self._shape(batch, [o for o in batch.outcomes if o.key in again])
        self._batches += 1
        self.candidates += batch.candidates
        for o in batch.outcomes:
            if o.eligible:
                self.released += 1
            else:
                self.withheld[o.reason] = self.withheld.get(o.reason, 0) + 1
        return [o for o in batch.outcomes if o.eligible]

    def _redecided(self, outcome: _Outcome, contacts: int) -> _Outcome:
        """At the count found under the lock; the consents and stops read for the batch
        stand (only the count changed)."""
        return self._decide(outcome.key, outcome.consents, outcome.stops, contacts)

    def _store_leaves(self, eligible: list[_Outcome], batch: _Batch) -> list[tuple[bytes, bytes]]:
        """Each eligible customer's leaf, kept (for proofs), and its line; the progress."""
        out: list[tuple[bytes, bytes]] = []
        rows = []
        # the recipient's pseudonyms of the whole batch in one call (one cipher set-up)
        pseudonyms = self._pseudonyms.pseudonyms([o.key for o in eligible],
                                                 self.caller.affiliate) if eligible else []
        for o, pseudonym in zip(eligible, pseudonyms):
            assert o.shaped is not None
            fields = {r.attribute: r.view for r, _ in o.shaped.released}
            leaf = canonical_json({"customer_key": o.key, "pseudonym": pseudonym,
                                   "fields": sorted(fields), "views": fields})
            rows.append((self.id, self._positions, o.key, leaf))
            self._positions += 1
            windows = [r.contact_window for r, _ in o.shaped.released if r.contact_window]
            window = windows[0] if windows else None
            released = {r.attribute: {"value": v, "view": r.view} for r, v in o.shaped.released}
            if self.spec.format == "csv":
                line = self._csv([pseudonym, *(_cell(released.get(f)) for f in self._fields),
                                  window or "", self._use_by_text])
            else:
                line = json.dumps({"pseudonym": pseudonym, "released": released,
                                   "contact_window": window, "use_by": self._use_by_text},
                                  ensure_ascii=False).encode() + b"\n"
            out.append((line, leaf))
        # the batch's leaves and the campaign's progress in one transaction
        with self._engine.begin() as conn:
            if rows:
                cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    insert_rows(conn, cursor, _INSERT_LEAF, [
                        {"campaign_id": c, "position": n, "customer_key": k, "leaf": leaf}
                        for c, n, k, leaf in rows])
                finally:
                    cursor.close()
            self._progress(conn)
        batch.values.clear()
        return out

    def _progress(self, conn: Connection) -> None:
        conn.execute(update(_CAMPAIGNS).where(_CAMPAIGNS.c.id == self.id).values(
            candidates=self.candidates, released=self.released, sent=self.sent,
            withheld=json.dumps(dict(sorted(self.withheld.items())))))

    @staticmethod
    def _csv(cells: Sequence[str]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        return buffer.getvalue().encode()

    # --- closing ----------------------------------------------------------------------------
    async def close(self, status: str) -> int:
        """The closing record: counts and the root over exactly the lines sent; then the row."""
        self.status = status
        root = self._tree.root()
        index = await record.append(self._log, record.event_record(
            "campaign.close", request_id=self.request_id, now=self.now, caller=self.caller,
            source=self.caller.source, policy_version=self.policy.version, status=200,
            campaign=self.id, outcome=status, candidates=self.candidates,
            released=self.released, withheld=dict(sorted(self.withheld.items())),
            sent=self.sent, leaves_root=root.hex(), tree_size=self.sent,
            open_index=self.open_index))
        self.close_index = index
        await to_thread.run_sync(self._close_row, root, index)
        return index

    def _close_row(self, root: bytes, index: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(_CAMPAIGNS).where(_CAMPAIGNS.c.id == self.id).values(
                status=self.status, candidates=self.candidates, released=self.released,
                sent=self.sent, withheld=json.dumps(dict(sorted(self.withheld.items()))),
                root=root, close_index=index))


def _cell(item: Any) -> str:
    if item is None:
        return ""
    value = item["value"]
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def record_day(now: datetime) -> Any:
    from gateway.pipeline import KST  # ages are reckoned on the customer's calendar

    return now.astimezone(KST).date()


# --- reading campaigns back ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CampaignStatus:
    id: str
    recipient: str
    system: str
    purpose: str
    channel: str
    status: str
    created_at: datetime
    use_by: datetime
    candidates: int
    released: int
    sent: int
    withheld: dict[str, int]
    open_index: int
    close_index: int | None
    root: str | None
    destroyed_at: datetime | None
    destruction_index: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "recipient": self.recipient, "system": self.system,
                "purpose": self.purpose, "channel": self.channel, "status": self.status,
                "created_at": record.timestamp(self.created_at),
                "use_by": record.timestamp(self.use_by), "candidates": self.candidates,
                "released": self.released, "sent": self.sent, "withheld": self.withheld,
                "open_index": self.open_index, "close_index": self.close_index,
                "leaves_root": self.root,
                "destroyed_at": (record.timestamp(self.destroyed_at)
                                 if self.destroyed_at else None),
                "destruction_index": self.destruction_index}


def _status(row: Any) -> CampaignStatus:
    return CampaignStatus(
        id=row.id, recipient=row.recipient, system=row.system, purpose=row.purpose,
        channel=row.channel, status=row.status, created_at=row.created_at, use_by=row.use_by,
        candidates=int(row.candidates), released=int(row.released), sent=int(row.sent),
        withheld=json.loads(row.withheld), open_index=int(row.open_index),
        close_index=None if row.close_index is None else int(row.close_index),
        root=None if row.root is None else bytes(row.root).hex(),
        destroyed_at=row.destroyed_at,
        destruction_index=None if row.destruction_index is None else int(row.destruction_index))


class CampaignStore:
    """The campaigns' index rows and leaves in the gateway database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, campaign_id: str, *, recipient: str) -> CampaignStatus:
        """A campaign of `recipient`; another recipient's answers exactly like an unknown id."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_CAMPAIGNS).where(
                _CAMPAIGNS.c.id == campaign_id, _CAMPAIGNS.c.recipient == recipient)).first()
        if row is None:
            raise CampaignNotFound("no such campaign for this recipient")
        return _status(row)

    def confirm_destruction(self, campaign_id: str, *, recipient: str, now: datetime,
                            index: int) -> CampaignStatus:
        """Record the recipient's confirmation (the first one stands)."""
        with self._engine.begin() as conn:
            conn.execute(update(_CAMPAIGNS).where(
                _CAMPAIGNS.c.id == campaign_id, _CAMPAIGNS.c.recipient == recipient,
                _CAMPAIGNS.c.destroyed_at.is_(None)).values(destroyed_at=now,
                                                            destruction_index=index))
        return self.get(campaign_id, recipient=recipient)

    def overdue(self, now: datetime) -> list[CampaignStatus]:
        """Campaigns past their use-by without a destruction confirmation, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(_CAMPAIGNS).where(
                _CAMPAIGNS.c.use_by < now, _CAMPAIGNS.c.destroyed_at.is_(None))
                .order_by(_CAMPAIGNS.c.use_by, _CAMPAIGNS.c.id)).all()
        return [_status(r) for r in rows]

    def unclosed(self, started_before: datetime) -> list[CampaignStatus]:
        """Campaigns started before `started_before` that never closed: their process died
        mid-stream (a crash). What was sent is then at most the leaves of their recorded
        batches; the log holds their opening and batch records, but no closing one."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(_CAMPAIGNS).where(
                _CAMPAIGNS.c.status == "running", _CAMPAIGNS.c.created_at < started_before)
                .order_by(_CAMPAIGNS.c.created_at, _CAMPAIGNS.c.id)).all()
        return [_status(r) for r in rows]

    def inclusion(self, campaign_id: str, customer_key: str) -> dict[str, Any] | None:
        """The RFC 9162 inclusion proof of a customer's leaf in the closing record's tree, or
        None when the customer was not sent in the campaign.

        The proof's subtrees cover every other leaf, so every leaf is read once, but streamed in
        stream order (a server-side cursor on PostgreSQL) and hashed into the one subtree it
        belongs to: memory stays flat for a campaign of millions."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_CAMPAIGNS.c.sent, _CAMPAIGNS.c.root).where(
                _CAMPAIGNS.c.id == campaign_id)).first()
            if row is None or row.root is None:
                return None
            size = int(row.sent)
            mine = conn.execute(select(_LEAVES.c.position, _LEAVES.c.leaf).where(
                _LEAVES.c.campaign_id == campaign_id, _LEAVES.c.customer_key == customer_key,
                _LEAVES.c.position < size)).first()
            if mine is None:
                return None
            index = int(mine.position)
            ranges = inclusion_ranges(index, size)
            subtrees = {r: CompactRange() for r in ranges}
            ordered = sorted(ranges)  # disjoint, together every position but `index`
            current = 0
            leaves = conn.execution_options(yield_per=LEAF_READ_BATCH).execute(
                select(_LEAVES.c.position, _LEAVES.c.leaf).where(
                    _LEAVES.c.campaign_id == campaign_id, _LEAVES.c.position < size)
                .order_by(_LEAVES.c.position))
            for position, leaf in leaves:
                if position == index:
                    continue
                while ordered[current][1] <= position:
                    current += 1
                subtrees[ordered[current]].append(leaf_hash(bytes(leaf)))
        proof = [subtrees[r].root() for r in ranges]
        return {"campaign": campaign_id, "leaf": bytes(mine.leaf).decode(), "index": index,
                "tree_size": size, "proof": [p.hex() for p in proof],
                "root": bytes(row.root).hex()}
