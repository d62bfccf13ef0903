"""`--lang ko`: every finding and the summary in Korean, times in KST, findings first."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from gateway_verify.cli import main as verify_main
from gateway_verify.korean import UNTRANSLATED, kst, translate
from tests.verify.conftest import Gateway, tampered

HANGUL = re.compile(r"[\uac00-\ud7a3]")
UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def assert_korean_too(capsys: pytest.CaptureFixture[str], code: int,
                      args: Sequence[str | Path]) -> None:
    """Run the same verification with `--lang ko`: same verdict, every line Korean."""
    if "--lang" in args:
        return
    ko_code = verify_main([str(a) for a in args] + ["--lang", "ko"])
    out, err = capsys.readouterr()
    assert ko_code == code
    for line in err.splitlines():
        assert UNTRANSLATED not in line, line
        assert line.startswith(("실패: ", "gateway-verify: ")) and HANGUL.search(line), line
        assert not UTC_TIME.search(line), line  # times in KST
    for line in out.splitlines():
        assert HANGUL.search(line), line


def test_korean_summary_with_times_in_kst(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(100)
    archive = gw.export()
    code = verify_main([str(archive), "--key", gw.signer.verifier_key(), "--lang", "ko"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "확인 완료: 모든 검사를 통과했습니다" in out
    assert "기록: 100건 (로그 색인 0 ~ 99)" in out
    assert "제휴사별: bank 25건, card 25건, insurance 25건, securities 25건" in out
    assert "거부: 20건" in out
    assert "기록 기간: 2026-10-01 09:00:00 KST ~ 2026-10-05 12:00:00 KST" in out
    assert "반출자: auditor@fsc.example, 반출 시각: 2026-11-23 09:00:00 KST" in out
    assert "필터 기간: … ~ … (끝 시각 제외)" in out
    assert not UTC_TIME.search(out)


def test_korean_findings_come_before_the_summary(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gw = make_gateway(20)

    def change(m: dict[str, bytes]) -> None:
        rows = m["records.jsonl"].split(b"\n")[:-1]
        rows[3] = rows[3].replace(b'"status":200', b'"status":201')
        m["records.jsonl"] = b"".join(r + b"\n" for r in rows)

    archive = tampered(gw.export(), change)
    done = subprocess.run(
        [sys.executable, "-m", "gateway_verify", str(archive), "--key",
         gw.signer.verifier_key(), "--lang", "ko"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert lines[0] == ("실패: 색인 3의 기록이 변조되었습니다: 체크포인트의 트리가 그 색인에 담은 "
                        "기록이 아닙니다")
    assert lines[1].startswith("실패: 선택 범위가 로그에 기록된 반출 기록과 다릅니다")
    assert lines[2].startswith("아카이브: ")
    assert lines[-1] == "실패: 문제 2건"


@pytest.mark.parametrize(("english", "korean"), [
    # a reason after a colon is itself translated
    ("archive unreadable: archive lacks `proofs.jsonl`",
     "아카이브를 읽을 수 없습니다: 아카이브에 `proofs.jsonl`이(가) 없습니다"),
    ("checkpoint signed by the wrong key: `log+0badc0de` is not the trusted key of that name",
     "체크포인트가 잘못된 키로 서명되었습니다: `log+0badc0de`은(는) 그 이름의 신뢰하는 키가 "
     "아닙니다"),
    # a time inside a finding is shown in KST
    ("record at index 7 is outside the declared filters: `time` 2026-10-01T00:00:00.000000Z "
     "is before `since`",
     "색인 7의 기록이 선언된 필터 밖에 있습니다: `time` 2026-10-01 09:00:00 KST이(가) `since`"
     "보다 앞섭니다"),
    ("checkpoint origin `b/log` is not the name of the trusted key that signed it: signed as "
     "`a/log`",
     "체크포인트의 origin `b/log`이(가) 서명한 신뢰 키의 이름과 다릅니다: 서명한 키 이름 "
     "`a/log`"),
    # a finding nobody taught the table stays readable, marked
    ("something new", f"{UNTRANSLATED}: something new"),
])
def test_translation_table(english: str, korean: str) -> None:
    assert translate(english) == korean


def test_kst() -> None:
    assert kst("2026-12-31T15:00:00.000000Z") == "2027-01-01 00:00:00 KST"
    assert kst(None) == "…"
