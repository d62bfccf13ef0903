"""The happy path on PostgreSQL: an export from a log in its own schema verifies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from gateway.accesslog import export_proofs
from gateway.accesslog.export_select import ExportFilters
from gateway_verify.cli import main as verify_main
from tests.conftest import postgres_schema
from tests.verify.conftest import Gateway

pytestmark = pytest.mark.postgres



@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """An engine whose search_path is a schema of this test alone; dropped afterwards."""
    with postgres_schema("verify") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


def test_export_from_postgres_verifies(
    make_gateway: Callable[..., Gateway], pg_engine: Engine, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_proofs, "CHUNK_BITS", 4)  # several chunks, a partial last one
    gw = make_gateway(60, engine=pg_engine)
    previous = gw.log.checkpoint()
    (tmp_path / "previous").write_text(previous)
    gw.add(60, 43)
    archive = gw.export("pg.tar.gz", previous_checkpoint=previous,
                        filters=ExportFilters.of(purposes=["credit_risk", "marketing_sms"]))
    code = verify_main([str(archive), "--key", gw.signer.verifier_key(),
                        "--previous-checkpoint", str(tmp_path / "previous")])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "records: 69 (log index 0 to 102)" in out
    assert "previous checkpoint: tree size 60" in out
