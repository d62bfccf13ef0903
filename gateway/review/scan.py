"""Read the access records a monthly review needs, in index order, in bounded chunks.

The scan starts at the first record committed `SCAN_MARGIN` before the first history month
(one probe of the `created_at` index, migration 0004): a record's `time` is read before its
commit, so nothing of the period can sit earlier in the log. It runs to the pinned tree
size — not to the month's end — because records are sometimes committed long after their
`time` (a late batch, a back-filled history) and a destruction confirmation for a campaign
of the month may come weeks later. A review run early in the following month therefore
reads the month, its history months and the days since; pinning the tree size makes the
review reproducible: the same month, tree size and `as_of` give the same digest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import orjson
from sqlalchemy import Engine, select

from gateway.accesslog import store
from gateway.accesslog.errors import LogCorrupted, LogRangeError
from gateway.review.period import Month

SCAN_MARGIN = timedelta(hours=1)  # as the period export (`accesslog.export.SCAN_MARGIN`)
CHUNK = 5000  # records per query: large enough that the per-query cost vanishes

Progress = Callable[[int, int], None]  # (records read, records to read)


def head_size(engine: Engine) -> int:
    with engine.connect() as conn:
        return store.read_head(conn).size


def scan_start(engine: Engine, first_month: Month, tree_size: int) -> int:
    with engine.connect() as conn:
        first = store.first_index_committed_since(conn, first_month.start() - SCAN_MARGIN)
    return tree_size if first is None else min(first, tree_size)


def records(engine: Engine, start: int, end: int,
            progress: Progress | None = None) -> Iterator[tuple[int, dict[str, object]]]:
    """(index, decoded record) for [start, end), `CHUNK` rows per query on a short-lived
    connection each (a long review must not pin a read transaction on the log)."""
    leaves = store.leaves
    loads = orjson.loads  # several times json.loads on records of this size
    at = start
    while at < end:
        stop = min(end, at + CHUNK)
        with engine.connect() as conn:
            rows = conn.execute(
                select(leaves.c.idx, leaves.c.record)
                .where(leaves.c.idx >= at, leaves.c.idx < stop).order_by(leaves.c.idx)
            ).all()
        if len(rows) != stop - at or (rows and rows[-1][0] != stop - 1):
            raise LogCorrupted(f"access log leaves in [{at}, {stop}) are missing")
        for index, data in rows:
            yield index, loads(data)
        at = stop
        if progress is not None:
            progress(at - start, end - start)


def check_pin(engine: Engine, tree_size: int) -> None:
    size = head_size(engine)
    if not 0 <= tree_size <= size:
        raise LogRangeError(f"tree size {tree_size} is outside the log of size {size}")
