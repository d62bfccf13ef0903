"""The yearly notice (고객정보 제공 사실 통지): to each customer, what was provided, to whom, for
what and when, under a purpose the policy marks `notify_customer: true`.

금융지주회사법 제48조의2 제6항 and 같은 법 시행령 제27조의2: a holding company's affiliate that
provides customer data to another affiliate for internal management tells the customer at least
once a year what was provided, to whom and for what purpose. The notices are derived from the
access log alone (the records that released something), never from a second bookkeeping.

Campaign extractions release to many customers in one record: their customers are the leaves
the closing record's Merkle root commits to (`campaign_leaves`), read for each campaign closed
in the year under a notified purpose.

Flat memory over any number of customers: the log is read once, in order, in chunks; each
release under a notified purpose becomes one row in a work file (SQLite, on disk, next to the
output); one `GROUP BY customer, recipient, purpose, items ORDER BY customer` — an external sort
SQLite does on disk — then yields each customer's lines together, and each customer's notice is
written as soon as its rows are read. Nothing is held per customer beyond the one being written.

Output in the folder given:
- `notices-<year>.jsonl`: one JSON object per customer (machine-readable, for the mailing system);
- `html/<first two hex digits of the key>/<customer key>.html`: the notice in Korean (English
  beside), one page per customer — each notice goes to one customer, so one page each is what
  the mailing or app channel sends; 256 shard folders keep every folder small;
- `summary.json`: the year, the counts, the policy version and the log size read.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, Table, select

from gateway.db.models import Campaign, CampaignLeaf
from markupsafe import Markup

from gateway.documents import Names, environment, format_kst
from gateway.documents.kst import KST, parse_record_time
from gateway.policy.model import Policy

WORK_FILE = "notices-work.sqlite"  # removed when done
INSERT_BATCH = 20_000
WORK_CACHE_KIB = 16 * 1024
_QUERY_KIND = b'"kind":"query"'
_CLOSE_KIND = b'"kind":"campaign.close"'

_CAMPAIGNS: Table = Campaign.__table__  # type: ignore[assignment]
_LEAVES: Table = CampaignLeaf.__table__  # type: ignore[assignment]

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): phase `scan` counts log records, `write` customers."""


class LogReader(Protocol):
    def size(self) -> int: ...

    def iter_records(self, start: int, end: int) -> Iterable[bytes]: ...


@dataclass(frozen=True, slots=True)
class NoticeSummary:
    year: int
    customers: int
    provisions: int  # releases counted into the notices
    records_read: int
    policy_version: str
    jsonl: Path
    html_dir: Path | None

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "customers": self.customers, "provisions": self.provisions,
                "records_read": self.records_read, "policy_version": self.policy_version,
                "jsonl": self.jsonl.name,
                "html": None if self.html_dir is None else self.html_dir.name}


def year_bounds(year: int) -> tuple[str, str]:
    """The KST calendar year as record-time text bounds [start, end) (records' `time` is RFC
    3339 UTC with microseconds, so text order is time order)."""
    start = datetime(year, 1, 1, tzinfo=KST).astimezone(timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=KST).astimezone(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    return start.strftime(fmt), end.strftime(fmt)


@dataclass(frozen=True, slots=True)
class ClosedCampaign:
    """A campaign whose closing record falls in the year: its customers are its leaves."""

    id: str
    recipient: str
    time: str
    close_index: int
    sent: int


def provisions(log: LogReader, notified: frozenset[str], year: int, *,
               end: int | None = None, progress: Progress | None = None,
               campaigns: list[ClosedCampaign] | None = None
               ) -> Iterator[tuple[str, str, str, str, str, int]]:
    """(customer, recipient, purpose, items, time, index) of each query release under a
    notified purpose in `year` (KST), in log order. `items` is `attribute:view` joined by
    commas. Campaigns closed in the year are appended to `campaigns` (their customers are in
    the leaves the closing record's root commits to, not in the records)."""
    start_text, end_text = year_bounds(year)
    size = log.size() if end is None else end
    wanted = tuple(f'"purpose":"{p}"'.encode() for p in sorted(notified))
    for index, data in enumerate(log.iter_records(0, size)):
        if progress is not None and index % 50_000 == 0:
            progress("scan", index, size)
        if campaigns is not None and _CLOSE_KIND in data:
            closing = json.loads(data)
            if closing.get("status") == 200 and start_text <= closing.get("time", "") < end_text \
                    and closing.get("sent"):
                campaigns.append(ClosedCampaign(closing["campaign"],
                                                closing["actor"]["affiliate"], closing["time"],
                                                index, int(closing["sent"])))
            continue
        # most records are skipped on their bytes, without parsing (canonical JSON: no spaces)
        if _QUERY_KIND not in data or not any(w in data for w in wanted):
            continue
        record = json.loads(data)
        if record.get("purpose") not in notified or record.get("status") != 200:
            continue
        customer, released, time = record.get("customer"), record.get("released"), \
            record.get("time", "")
        if not customer or not released or not start_text <= time < end_text:
            continue
        items = ",".join(f"{r['attribute']}:{r['view']}" for r in released)
        yield customer, record["actor"]["affiliate"], record["purpose"], items, time, index
    if progress is not None:
        progress("scan", size, size)


def campaign_provisions(engine: Engine, closed: list[ClosedCampaign], notified: frozenset[str]
                        ) -> Iterator[tuple[str, str, str, str, str, int]]:
    """The customers sent in each closed campaign of a notified purpose, from its leaves (those
    the closing record's Merkle root commits to: positions below `sent`), streamed."""
    for campaign in closed:
        with engine.connect() as conn:
            purpose = conn.execute(select(_CAMPAIGNS.c.purpose).where(
                _CAMPAIGNS.c.id == campaign.id)).scalar()
            if purpose not in notified:
                continue
            leaves = conn.execution_options(yield_per=INSERT_BATCH).execute(
                select(_LEAVES.c.leaf).where(_LEAVES.c.campaign_id == campaign.id,
                                             _LEAVES.c.position < campaign.sent)
                .order_by(_LEAVES.c.position))
            for (leaf,) in leaves:
                parsed = json.loads(bytes(leaf))
                items = ",".join(f"{a}:{parsed['views'][a]}" for a in parsed["fields"])
                yield (parsed["customer_key"], campaign.recipient, str(purpose), items,
                       campaign.time, campaign.close_index)


def write_notices(log: LogReader, policy: Policy, year: int, out: Path, *, now: datetime,
                  html: bool = True, progress: Progress | None = None,
                  campaigns_from: Engine | None = None) -> NoticeSummary:
    """Write the year's notices into `out` (see the module docstring); `now`: the issue time;
    `campaigns_from`: the gateway database whose campaign leaves name campaigns' customers."""
    notified = frozenset(p.id for p in policy.purposes.values() if p.notify_customer)
    out.mkdir(parents=True, exist_ok=True)
    work = out / WORK_FILE
    work.unlink(missing_ok=True)
    conn = sqlite3.connect(work)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA temp_store=FILE")  # the sort spills to disk, not to memory
        # the page cache and each sorter's in-memory run are bounded by this (SQLite sizes a
        # sorter's runs by `cache_size`): 16 MiB each, whatever the number of customers
        conn.execute(f"PRAGMA cache_size=-{WORK_CACHE_KIB:d}")
        conn.execute("CREATE TABLE p (customer TEXT, recipient TEXT, purpose TEXT, items TEXT,"
                     " time TEXT, log_index INTEGER)")
        size = log.size()
        count = 0
        batch: list[tuple[str, str, str, str, str, int]] = []
        closed: list[ClosedCampaign] = []
        found = provisions(log, notified, year, end=size, progress=progress,
                           campaigns=closed if campaigns_from is not None else None)
        if campaigns_from is not None:
            found = itertools.chain(found, campaign_provisions(campaigns_from, closed, notified))
        for row in found:
            batch.append(row)
            if len(batch) >= INSERT_BATCH:
                conn.executemany("INSERT INTO p VALUES (?,?,?,?,?,?)", batch)
                count += len(batch)
                batch.clear()
        if batch:
            conn.executemany("INSERT INTO p VALUES (?,?,?,?,?,?)", batch)
            count += len(batch)
        conn.commit()
        customers = conn.execute("SELECT COUNT(DISTINCT customer) FROM p").fetchone()[0]
        rows = conn.execute(
            "SELECT customer, recipient, purpose, items, COUNT(*), MIN(time), MAX(time),"
            " MIN(log_index), MAX(log_index) FROM p"
            " GROUP BY customer, recipient, purpose, items"
            " ORDER BY customer, recipient, purpose, items")  # one sort serves both
        jsonl = out / f"notices-{year}.jsonl"
        html_dir = out / "html" if html else None
        written = _write(rows, policy, year, now, jsonl, html_dir, customers, progress)
    finally:
        conn.close()
        work.unlink(missing_ok=True)
    summary = NoticeSummary(year, written, count, size, policy.version, jsonl, html_dir)
    (out / "summary.json").write_text(json.dumps(summary.as_dict(), ensure_ascii=False,
                                                 indent=2) + "\n", "utf-8")
    return summary


class _Pages:
    """Writes the Korean pages: the cells naming who, why and what are rendered once per
    (recipient, purpose, items) and reused (escaped by the template, kept as markup); each
    page then renders only its dates. At most `CELLS_KEPT` distinct cells are kept."""

    CELLS_KEPT = 10_000

    def __init__(self, folder: Path) -> None:
        self._folder = str(folder)
        for shard in range(256):
            os.makedirs(os.path.join(self._folder, f"{shard:02x}"), exist_ok=True)
        self._page = environment().get_template("notice.html")
        self._cells_template = environment().get_template("notice_cells.html")
        self._cells: dict[tuple[str, str, str], Markup] = {}

    def _cells_of(self, provided: dict[str, Any]) -> Markup:
        key = (provided["recipient"], provided["purpose"],
               ",".join(f"{i['id']}:{i['view']}" for i in provided["items"]))
        found = self._cells.get(key)
        if found is None:
            if len(self._cells) >= self.CELLS_KEPT:
                self._cells.clear()
            found = self._cells[key] = Markup(self._cells_template.render(p=provided))
        return found

    def write(self, notice: dict[str, Any]) -> None:
        customer = notice["customer"]
        cells = [self._cells_of(p) for p in notice["provided"]]
        path = os.path.join(self._folder, customer[:2], f"{customer}.html")
        with open(path, "w", encoding="utf-8") as page:
            page.write(self._page.render(n=notice, cells=cells))


def _write(rows: Iterable[tuple[Any, ...]], policy: Policy, year: int, now: datetime, jsonl: Path,
           html_dir: Path | None, total: int, progress: Progress | None) -> int:
    names = Names.of(policy)
    issued = format_kst(now)
    pages = _Pages(html_dir) if html_dir is not None else None
    written = 0
    tmp = jsonl.with_name(jsonl.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as lines:
        for customer, entries in _by_customer(rows):
            notice = _notice(names, year, customer, entries, issued)
            lines.write(json.dumps(notice, ensure_ascii=False, separators=(",", ":")) + "\n")
            if pages is not None:
                pages.write(notice)
            written += 1
            if progress is not None and written % 10_000 == 0:
                progress("write", written, total)
    os.replace(tmp, jsonl)
    if progress is not None:
        progress("write", written, total)
    return written


def _by_customer(rows: Iterable[tuple[Any, ...]]
                 ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    current: str | None = None
    entries: list[tuple[Any, ...]] = []
    for row in rows:
        if row[0] != current:
            if current is not None:
                yield current, entries
            current, entries = row[0], []
        entries.append(row)
    if current is not None:
        yield current, entries


def _notice(names: Names, year: int, customer: str, entries: list[tuple[Any, ...]],
            issued: str) -> dict[str, Any]:
    provided = []
    # a customer's few lines, in the order they began (the query sorted them by group key)
    for _customer, recipient, purpose, items, count, first, last, first_index, last_index \
            in sorted(entries, key=lambda e: (e[5], e[1], e[2], e[3])):
        who, why = names.affiliate(recipient), names.purpose(purpose)
        attributes = []
        for item in items.split(","):
            attribute, _, view = item.partition(":")
            a, v = names.attribute(attribute), names.view(attribute, view)
            attributes.append({"id": a.id, "name_ko": a.ko, "name_en": a.en,
                               "view": view, "view_ko": v.ko, "view_en": v.en})
        provided.append({
            "recipient": who.id, "recipient_ko": who.ko, "recipient_en": who.en,
            "purpose": why.id, "purpose_ko": why.ko, "purpose_en": why.en,
            "legal_basis": names.legal_basis(purpose),
            "items": attributes, "times": count,
            "first": first, "first_kst": format_kst(parse_record_time(first)),
            "last": last, "last_kst": format_kst(parse_record_time(last)),
            "first_log_index": first_index, "last_log_index": last_index,
        })
    return {"year": year, "customer": customer, "provided": provided,
            "period_kst": f"{year}-01-01 ~ {year}-12-31 (KST)",
            "issued_kst": issued}
