"""Customer numbers: drawn by the INSERT itself, once each, by the seed and by registration."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from gateway.affiliates import AffiliateDatabases
from gateway.db.engine import make_engine
from gateway.db.models import Customer, create_gateway_schema
from gateway.domain import CustomerKey
from gateway.registry import CustomerRegistry
from gateway.seed import seed
from pseudonymizer.keys import FileKeyProvider
from pseudonymizer.rrn import generate_rrn, parse_national_id
from pseudonymizer.vault import RrnVault


def _numbers(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(Customer.customer_no).order_by(Customer.customer_no))
                    .scalars())


def test_seed_numbers_every_customer_one_to_n(tmp_path: Path, keys: FileKeyProvider,
                                              urls_in: Callable[[Path], dict[str, str]]) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    create_gateway_schema(engine)
    databases = AffiliateDatabases(urls_in(tmp_path))
    try:
        seed(engine, databases, keys, n_customers=120, rng_seed=5, chunk_size=50)
        assert _numbers(engine) == list(range(1, 121))  # three chunks, no gap, no repeat
        seed(engine, databases, keys, n_customers=30, rng_seed=6, force=True)
        assert len(set(_numbers(engine))) == 30
    finally:
        databases.close()
        engine.dispose()


def test_concurrent_registrations_never_share_a_number(gateway_engine: Engine,
                                                       vault: RrnVault) -> None:
    registry = CustomerRegistry(gateway_engine, vault)
    errors: list[BaseException] = []

    def register(worker: int) -> None:
        rng = random.Random(worker)
        try:
            for i in range(15):
                nid = parse_national_id(generate_rrn(rng, date(1960 + worker, 1 + i % 12, 3),
                                                     1 + worker % 2))
                registry.register(nid, CustomerKey(secrets.token_hex(16)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _numbers(gateway_engine) == list(range(1, 91))
    with gateway_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Customer)).scalar_one() == 90
