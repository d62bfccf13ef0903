"""`gateway review --month … --format json|html|pdf` and `review sign-off`, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest

from gateway.accesslog.bulk import bulk_append
from gateway.review.demo_month import PLANTED, demo_records
from tests.api.conftest import Harness, build_settings, start_harness

from .conftest import CUSTOMERS, MONTH


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    yield from start_harness(build_settings(tmp_path_factory.mktemp("review-cli"), policy_dir))


@pytest.mark.slow
def test_cli_reviews_the_demo_month_and_signs_it_off(
        gw: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import get_settings

    policy = gw.services.policy.current
    bulk_append(gw.services.log_engine, demo_records(policy, CUSTOMERS, MONTH),
                create_tables=False)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(gw.settings.policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(gw.settings.public_keys_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        shown = runner.invoke(app, ["review", "--month", str(MONTH), "--quiet"])
        assert shown.exit_code == 0, shown.output
        document = json.loads(shown.stdout)
        review = document["review"]
        assert review["schema"] == "gateway.review/1"
        assert [(o["affiliate"], o["employee"]) for o in review["outliers"]] == [PLANTED]
        for fmt in ("html", "pdf"):
            out = tmp_path / f"review.{fmt}"
            done = runner.invoke(app, ["review", "--month", str(MONTH), "--format", fmt,
                                       "--out", str(out), "--quiet"])
            assert done.exit_code == 0, done.output
        assert (tmp_path / "review.html").read_text("utf-8").count("data:image/svg+xml") >= 5
        assert len(pypdf.PdfReader(tmp_path / "review.pdf").pages) >= 2

        pins = ["--tree-size", str(review["pin"]["tree_size"]), "--as-of", review["pin"]["as_of"]]
        refused = runner.invoke(app, ["review", "sign-off", "--month", str(MONTH), "--quiet",
                                      "--reviewer", "홍길동", "--comment",
                                      "고객 900101-1234567 확인", *pins])
        assert refused.exit_code == 2 and "900101" not in refused.output
        signed = runner.invoke(app, ["review", "sign-off", "--month", str(MONTH), "--quiet",
                                     "--reviewer", "홍길동 고객정보관리인", "--comment",
                                     "lee.callcenter 소명 요청", "--digest", document["digest"],
                                     *pins])
        assert signed.exit_code == 0, signed.output
        again = json.loads(runner.invoke(app, ["review", "--month", str(MONTH),
                                               "--quiet"]).stdout)
        assert [s["digest"] for s in again["signoffs"]] == [document["digest"]]
        # the campaign subcommands of the same group still work
        overdue = runner.invoke(app, ["review", "overdue", "--format", "json"])
        assert overdue.exit_code == 0
        listed = json.loads(overdue.stdout)
        assert listed["campaigns"] == [] and listed["releases"]["oldest"] == []
    finally:
        get_settings.cache_clear()
