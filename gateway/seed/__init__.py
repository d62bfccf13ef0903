"""Build the synthetic group: affiliates' customer tables, the registry and relationships.

Fast by construction: people are generated in chunks, each chunk is written with one
executemany per table in one transaction per database; the synthetic affiliate databases run
with `synchronous=OFF` while loading (they are rebuilt from the seed if lost). Raw national
id numbers exist only in memory: the registry gets the blind index and the ciphertext, the
bank table the masked form. `demo_rrn(rng_seed, i)` regenerates customer `i`'s number.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice

from sqlalchemy import column, delete, insert, inspect, select, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.affiliates import AffiliateDatabases
from gateway.affiliates.schema import AFFILIATE_METADATA, CUSTOMER_TABLES
from gateway.db.models import Consent, Customer, Relationship
from gateway.errors import ConfigError, GatewayError, StoreUnavailable
from gateway.registry import ciphertext_key_version
from gateway.seed.identities import (
    DEFAULT_RNG_SEED,
    Identity,
    demo_identity,
    demo_rrn,
    first_held_by,
    identities,
)
from gateway.seed.profiles import ROW_MAKERS, since
from pseudonymizer.keys import KeyProvider
from pseudonymizer.rrn import parse_national_id
from pseudonymizer.vault import RrnVault

__all__ = [
    "DEFAULT_RNG_SEED",
    "AlreadySeeded",
    "Identity",
    "SeedReport",
    "demo_identity",
    "demo_rrn",
    "first_held_by",
    "seed",
]

Progress = Callable[[int, int], None]


class AlreadySeeded(GatewayError):
    status = 409
    type_slug = "already-seeded"
    title = "the synthetic data set exists already"


@dataclass(frozen=True, slots=True)
class SeedReport:
    customers: int
    held: dict[str, int]  # affiliate → customers it holds
    rng_seed: int
    seconds: float


def seed(
    engine: Engine, databases: AffiliateDatabases, keys: KeyProvider, *,
    n_customers: int = 100_000, rng_seed: int = DEFAULT_RNG_SEED,
    progress: Progress | None = None, force: bool = False, chunk_size: int = 5_000,
    now: datetime | None = None,
) -> SeedReport:
    """Seed `n_customers` synthetic customers; refuses existing data unless `force`.

    The gateway schema must exist (`gateway db upgrade` or `create_gateway_schema`); the
    affiliate schemas are created here. With `force`, the registry, relationships, consents
    and every synthetic affiliate table are emptied first.
    """
    if n_customers < 1 or chunk_size < 1:
        raise ConfigError("`n_customers` and `chunk_size` must be positive")
    started = time.perf_counter()
    created = now or datetime.now(timezone.utc)
    vault = RrnVault(keys)
    try:
        _prepare(engine, databases, force=force)
        held = _load(engine, databases, vault, n_customers, rng_seed, chunk_size, created,
                     progress)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"seeding failed: {type(exc).__name__}") from exc
    return SeedReport(customers=n_customers, held=held, rng_seed=rng_seed,
                      seconds=time.perf_counter() - started)


def _prepare(engine: Engine, databases: AffiliateDatabases, *, force: bool) -> None:
    if not inspect(engine).has_table(Customer.__tablename__):
        raise ConfigError("gateway schema missing: run `gateway db upgrade` first")
    seeded = _has_rows(engine, Customer.__tablename__) or any(
        _has_rows(databases.engine(aff), table.name) for aff, table in CUSTOMER_TABLES.items()
    )
    if seeded and not force:
        raise AlreadySeeded("synthetic data exists already: use `--force` to rebuild it")
    if seeded:
        with engine.begin() as conn:
            for model in (Relationship, Consent, Customer):
                conn.execute(delete(model))
        for affiliate, metadata in AFFILIATE_METADATA.items():
            metadata.drop_all(databases.engine(affiliate))
    for affiliate, metadata in AFFILIATE_METADATA.items():
        metadata.create_all(databases.engine(affiliate))


def _has_rows(engine: Engine, table_name: str) -> bool:
    if not inspect(engine).has_table(table_name):
        return False
    with engine.connect() as conn:
        return conn.execute(select(column("customer_key")).select_from(table(table_name))
                            .limit(1)).first() is not None


@contextlib.contextmanager
def _bulk_connection(engine: Engine) -> Iterator[Connection]:
    """One connection for the whole load; SQLite skips fsync while loading synthetic data."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.commit()
        try:
            yield conn
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.commit()


def _load(engine: Engine, databases: AffiliateDatabases, vault: RrnVault, n_customers: int,
          rng_seed: int, chunk_size: int, created: datetime,
          progress: Progress | None) -> dict[str, int]:
    rng = random.Random(f"hanbit-seed:{rng_seed}:profiles")
    people = identities(rng_seed)
    held = {affiliate: 0 for affiliate in CUSTOMER_TABLES}
    with contextlib.ExitStack() as stack:
        affiliate_conns = {aff: stack.enter_context(_bulk_connection(databases.engine(aff)))
                           for aff in CUSTOMER_TABLES}
        gateway_conn = stack.enter_context(engine.connect())
        done = 0
        while done < n_customers:
            chunk = list(islice(people, min(chunk_size, n_customers - done)))
            customers, relationships, rows = _chunk(rng, vault, chunk, created)
            for affiliate, affiliate_rows in rows.items():
                if affiliate_rows:
                    with affiliate_conns[affiliate].begin():
                        affiliate_conns[affiliate].execute(
                            insert(CUSTOMER_TABLES[affiliate]), affiliate_rows)
                    held[affiliate] += len(affiliate_rows)
            # Registry last: a customer is resolvable only once its affiliate rows exist.
            with gateway_conn.begin():
                gateway_conn.execute(insert(Customer), customers)
                gateway_conn.execute(insert(Relationship), relationships)
            done += len(chunk)
            if progress is not None:
                progress(done, n_customers)
    return held


def _chunk(rng: random.Random, vault: RrnVault, chunk: list[Identity], created: datetime
           ) -> tuple[list[dict[str, object]], list[dict[str, object]],
                      dict[str, list[dict[str, object]]]]:
    customers: list[dict[str, object]] = []
    relationships: list[dict[str, object]] = []
    rows: dict[str, list[dict[str, object]]] = {aff: [] for aff in CUSTOMER_TABLES}
    for person in chunk:
        key = secrets.token_hex(16)
        nid = parse_national_id(person.rrn)  # the registry records the form the parser sees
        ciphertext = vault.encrypt(nid.digits, key)
        customers.append({
            "customer_key": key, "rrn_blind_index": vault.blind_index(nid.digits),
            "rrn_ciphertext": ciphertext, "id_kind": nid.kind, "id_form": nid.form.value,
            "key_version": ciphertext_key_version(ciphertext), "created_at": created,
        })
        for affiliate in person.holdings:
            relationships.append({"customer_key": key, "affiliate": affiliate,
                                  "since": since(rng, person)})
            rows[affiliate].append(ROW_MAKERS[affiliate](rng, person, key))
    return customers, relationships, rows
