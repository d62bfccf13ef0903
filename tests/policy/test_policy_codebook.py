"""docs/POLICY-CODES.md lists every policy problem code, in Korean and English, as generated."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.policy.checks.codes import CODES
from gateway.policy.codebook import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "POLICY-CODES.md"
ROW = re.compile(r"^\| ([PT]\d{3}) \| (오류 error|경고 warning) \| (.+) \| (.+) \|$")


def test_the_document_is_current() -> None:
    assert DOC.read_text("utf-8") == render(), (
        "docs/POLICY-CODES.md is stale: run `gateway policy codes --out docs/POLICY-CODES.md`")


def test_the_document_lists_every_code_once_in_both_languages() -> None:
    rows = [ROW.match(line) for line in DOC.read_text("utf-8").splitlines()]
    listed = [m.group(1) for m in rows if m]
    assert sorted(listed) == sorted(CODES) and len(listed) == len(set(listed))
    for match in filter(None, rows):
        code = CODES[match.group(1)]
        assert match.group(2).startswith("오류" if code.severity == "error" else "경고")
        assert re.search(r"[가-힣]", match.group(3)), match.group(1)
        assert not re.search(r"\{\w+\}", match.group(3) + match.group(4))  # shown as ‹name›


def test_cli_prints_the_same_document(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["policy", "codes"])
    assert result.exit_code == 0 and result.stdout == render()
    out = tmp_path / "codes.md"
    assert CliRunner().invoke(app, ["policy", "codes", "--out", str(out)]).exit_code == 0
    assert out.read_text("utf-8") == render()
