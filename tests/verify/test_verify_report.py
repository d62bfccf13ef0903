"""`gateway-verify report --by …`: who looked at whom and why, from verified records only."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.accesslog import LogSigner
from gateway_verify.cli import main as verify_main
from tests.verify.conftest import Gateway, tampered


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = verify_main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_by_customer(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(10)
    code, out, err = report(capsys, str(gw.export()), "--by", "customer",
                            "--key", gw.signer.verifier_key())
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == ("accesses by customer: 10 in 5 group(s), from 10 verified records "
                        "(0 not verified, left out)")
    customer = f"{1:032x}"  # records 1 and 6 (customer n % 5)
    at = lines.index(f"customer {customer}: 2 access(es)")
    assert lines[at + 1] == (f"  2026-10-01T01:00:00.000000Z  card/sys/E1 looked at customer "
                             f"{customer} for customer_service: partial (log index 1, query)")
    assert lines[at + 2].startswith("  2026-10-01T06:00:00.000000Z  securities/sys/E6 ")


@pytest.mark.parametrize(("by", "group", "count"), [
    ("employee", "bank/E0", 2),  # bank is n % 4 == 0, employee E(n % 7): records 0 and 28
    ("system", "card/sys", 8),  # every fourth record from index 1: 1, 5, …, 29
])
def test_report_by_employee_and_system(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str],
    by: str, group: str, count: int,
) -> None:
    gw = make_gateway(30)
    code, out, _ = report(capsys, str(gw.export()), "--by", by, "--key", gw.signer.verifier_key())
    assert code == 0
    assert f"{by} {group}: {count} access(es)" in out.splitlines()


def test_report_leaves_out_records_that_do_not_verify(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(10)

    def change(m: dict[str, bytes]) -> None:
        rows = m["records.jsonl"].split(b"\n")[:-1]
        rows[4] = rows[4].replace(b'"purpose":"customer_service"', b'"purpose":"fraud"')
        m["records.jsonl"] = b"".join(r + b"\n" for r in rows)

    code, out, err = report(capsys, str(tampered(gw.export(), change)), "--by", "system",
                            "--key", gw.signer.verifier_key())
    assert code == 1
    assert "FAILED: record at index 4 was modified" in err
    assert "from 9 verified records (1 not verified, left out)" in out
    assert "fraud" not in out


def test_report_trusts_nothing_under_an_untrusted_checkpoint(
    make_gateway: Callable[..., Gateway], other_signer: LogSigner,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gw = make_gateway(10)
    code, out, err = report(capsys, str(gw.export()), "--by", "customer",
                            "--key", other_signer.verifier_key())
    assert code == 1
    assert "FAILED: checkpoint signed by an untrusted key" in err
    assert "from 0 verified records (10 not verified, left out)" in out
    assert "looked at" not in out


def test_report_in_korean(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(5)
    code, out, err = report(capsys, str(gw.export()), "--by", "employee", "--lang", "ko",
                            "--key", gw.signer.verifier_key())
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == ("직원별 열람: 5개 묶음에 5건, 검증된 기록 5건 기준 "
                                   "(검증되지 않은 기록 0건 제외)")
    assert ("  2026-10-01 09:00:00 KST  bank/sys/E0이(가) 고객 "
            f"{0:032x}을(를) 열람, 목적 credit_risk, 결정 allow (로그 색인 0, query)") in out
