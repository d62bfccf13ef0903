"""Fixtures for export and verification: a real log on a SQLite file, real exports, tampering."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.export import export_archive
from gateway.accesslog.export_select import ExportFilters

ORIGIN = "test.example-holdings.co.kr/access-log"
T0 = datetime(2026, 10, 1, tzinfo=UTC)
AFFILIATES = ("bank", "card", "securities", "insurance")
PURPOSES = ("credit_risk", "customer_service", "marketing_sms")
DECISIONS = ("allow", "partial", "deny")


def make_record(n: int) -> dict[str, Any]:
    """A synthetic query record: one an hour, cycling affiliates, purposes and decisions."""
    return {
        "v": 1,
        "kind": "query",
        "time": (T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "request_id": f"req-{n}",
        "actor": {"affiliate": AFFILIATES[n % 4], "system": "sys", "employee": f"E{n % 7}"},
        "source": "10.0.0.1",
        "customer": f"{n % 5:032x}",
        "purpose": PURPOSES[n % 3],
        "decision": DECISIONS[n % 5 % 3],
        "status": 200,
    }


@pytest.fixture(scope="session")
def signer() -> LogSigner:
    return LogSigner(Ed25519PrivateKey.generate(), ORIGIN)


@pytest.fixture(scope="session")
def other_signer() -> LogSigner:
    """A key the regulator does not trust (an attacker's, or a wrong one)."""
    return LogSigner(Ed25519PrivateKey.generate(), "attacker.example/log")


@dataclass
class Gateway:
    engine: Engine
    log: AccessLog
    signer: LogSigner
    folder: Path

    def add(self, start: int, count: int) -> None:
        bulk_append(self.engine, (make_record(n) for n in range(start, start + count)))

    def export(self, name: str = "export.tar", **kwargs: Any) -> Path:
        filters = kwargs.pop("filters", None) or ExportFilters()
        out = self.folder / name
        export_archive(self.log, self.engine, out, verifier_keys=[self.signer.verifier_key()],
                       exported_by="auditor@fsc.example", now=datetime(2026, 11, 23, tzinfo=UTC),
                       filters=filters, **kwargs)
        return out


@pytest.fixture
def make_gateway(tmp_path: Path, signer: LogSigner) -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(records: int = 100, engine: Engine | None = None) -> Gateway:
        engine = engine or create_engine(f"sqlite:///{tmp_path / f'gw{len(made)}.db'}")
        log = AccessLog(engine, signer, origin=ORIGIN)
        gateway = Gateway(engine, log, signer, tmp_path)
        if records:
            gateway.add(0, records)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.log.close()
        gateway.engine.dispose()


def read_archive(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path, "r:*") as tar:
        out = []
        for info in tar.getmembers():
            f = tar.extractfile(info)
            assert f is not None
            out.append((info.name, f.read()))
        return out


def write_archive(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


Tamper = Callable[[dict[str, bytes]], None]


def tampered(path: Path, change: Tamper) -> Path:
    """A copy of the archive at `path` with `change` applied to its members (order kept)."""
    members = read_archive(path)
    contents = dict(members)
    change(contents)
    names = [n for n, _ in members if n in contents] + [n for n in contents
                                                         if n not in dict(members)]
    return write_archive(path.with_name("tampered-" + path.name),
                         [(n, contents[n]) for n in names])
