"""`gateway-verify history FILE`: exit status and findings, in English and Korean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway_verify.cli import main
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.rights.helpers import history, ok


def test_a_saved_history_verifies_and_a_tampered_one_fails(
        gw: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"])
    doc = ok(history(gw, customer.ref))
    key = gw.services.signer.verifier_key()
    saved = tmp_path / "history.json"
    saved.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    assert main(["history", str(saved), "--key", key]) == 0
    assert "OK: 1 entries" in capsys.readouterr().out
    assert main(["history", str(saved), "--key", key, "--lang", "ko"]) == 0
    assert "확인 완료: 내역 1건" in capsys.readouterr().out

    doc["entries"][0]["purpose"]["id"] = "statistics_research"
    saved.write_text(json.dumps(doc), "utf-8")
    assert main(["history", str(saved), "--key", key, "--lang", "ko"]) == 1
    err = capsys.readouterr().err
    assert "실패: 색인" in err and "기록과 다릅니다: `purpose`" in err
    assert main(["history", str(saved)]) == 2  # no trusted key
