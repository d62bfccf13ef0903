"""`gateway customer history --rrn -`: the RRN from stdin, printed masked; json, html, pdf."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import get_settings
from gateway_verify.history import verify_history
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.rights.helpers import log_records, trusted


@pytest.fixture
def runner(gw: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(gw.settings.policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(gw.settings.public_keys_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _masked(rrn: str) -> str:
    digits = rrn.replace("-", "")
    return f"{digits[:6]}-{digits[6]}******"


def test_json_html_and_pdf(gw: Harness, runner: CliRunner, tmp_path: Path) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    for _ in range(3):
        gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"])
    out = tmp_path / "history.json"
    result = runner.invoke(app, ["customer", "history", "--rrn", "-", "--format", "json",
                                 "--out", str(out)], input=customer.rrn + "\n")
    assert result.exit_code == 0, result.output
    digits = customer.rrn.replace("-", "")
    assert _masked(customer.rrn) in result.output and digits[7:] not in result.output
    doc = json.loads(out.read_text("utf-8"))
    assert doc["customer"]["rrn_masked"] == _masked(customer.rrn)
    assert [e["log_index"] for e in doc["entries"]] == [
        i for i, _ in log_records(gw, customer.key, doc["tree_size"])]
    assert verify_history(out.read_bytes(), trusted(gw)).ok
    recorded = json.loads(gw.services.access_log.record(doc["log_index"]))
    assert recorded["kind"] == "history" and recorded["source"] == "cli"
    assert recorded["actor"]["system"] == "holding-customer-center"

    html = runner.invoke(app, ["customer", "history", "--rrn", "-", "--format", "html"],
                         input=customer.rrn + "\n")
    assert html.exit_code == 0, html.output
    assert "개인신용정보 이용·제공 내역 조회" in html.stdout and _masked(customer.rrn) in html.stdout
    assert digits not in html.stdout and customer.rrn not in html.stdout

    pdf = tmp_path / "history.pdf"
    done = runner.invoke(app, ["customer", "history", "--rrn", "-", "--format", "pdf",
                               "--out", str(pdf)], input=customer.rrn + "\n")
    assert done.exit_code == 0, done.output
    text = pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].extract_text()
    assert "개인신용정보 이용·제공 내역 조회" in text and _masked(customer.rrn) in text


def test_the_rrn_is_never_taken_from_the_command_line(gw: Harness, runner: CliRunner) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    result = runner.invoke(app, ["customer", "history", "--rrn", customer.rrn])
    assert result.exit_code == 2 and customer.rrn not in result.output


def test_an_unknown_rrn_fails_without_echo(gw: Harness, runner: CliRunner) -> None:
    result = runner.invoke(app, ["customer", "history", "--rrn", "-"], input="9001011234568\n")
    assert result.exit_code == 2
    assert "9001011234568" not in result.output and "1234568" not in result.output
