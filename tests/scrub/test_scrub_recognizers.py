"""Each recognizer on the notations people type, and on look-alikes it must leave alone."""

from __future__ import annotations

import random
from datetime import date

import pytest
from presidio_analyzer import AnalyzerEngine

from pseudonymizer.rrn import generate_rrn
from pseudonymizer.scrub import ENTITIES, RECOGNIZERS, PersonRecognizer, build_analyzer
from pseudonymizer.scrub.recognizers.credit_card import luhn_ok
from pseudonymizer.scrub.recognizers.kr_brn import brn_check_ok

_RNG = random.Random(4)
RRN = generate_rrn(_RNG, date(1990, 1, 1), 1)  # pre-2020 form, check digit holds
FRN = generate_rrn(_RNG, date(1985, 7, 9), 2, foreigner=True)
WIDE = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)} | {"-": "\uff0d"})


def _h(n: str) -> str:
    return f"{n[:6]}-{n[6:]}"


@pytest.fixture(scope="module")
def analyzer() -> AnalyzerEngine:
    return build_analyzer()


def found(analyzer: AnalyzerEngine, text: str, names: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    extra = [PersonRecognizer(names)] if names else None
    return [(r.entity_type, text[r.start:r.end])
            for r in analyzer.analyze(text=text, language="ko", ad_hoc_recognizers=extra)]


def test_registry_matches_the_fixed_entity_names() -> None:
    assert tuple(RECOGNIZERS) == ENTITIES
    assert all(cls.ENTITY == name for name, cls in RECOGNIZERS.items())


@pytest.mark.parametrize(("text", "span"), [
    (f"주민번호 {_h(RRN)} 확인", _h(RRN)),
    (f"주민번호 {RRN}", RRN),  # no hyphen
    (f"번호는 {RRN[:6]} - {RRN[6:]}입니다", f"{RRN[:6]} - {RRN[6:]}"),  # spaced hyphen
    (f"{_h(RRN).translate(WIDE)}로 조회", _h(RRN).translate(WIDE)),  # full-width digits
    (f"{RRN[:6]}.{RRN[6:]} 고객", f"{RRN[:6]}.{RRN[6:]}"),  # dot
    (f"{RRN[:6]}\u2013{RRN[6:]} 고객", f"{RRN[:6]}\u2013{RRN[6:]}"),  # en dash
    (f"고객{_h(RRN)}로본인확인", _h(RRN)),  # glued to Korean on both sides
    (f"주민번호 {RRN[:6]}-1****** 확인", f"{RRN[:6]}-1******"),  # masked display form
    (f"주민번호 {RRN[:6]}-1＊＊＊＊＊＊ 확인", f"{RRN[:6]}-1＊＊＊＊＊＊"),  # full-width stars
    ("생년월일 900101-******* 고객", "900101-*******"),  # only the date left, with context
    (f"앞자리 {RRN[:6]} 뒷자리 {RRN[6:]} 불러줌", f"{RRN[:6]} 뒷자리 {RRN[6:]}"),  # dictated
])
def test_rrn_notations(analyzer: AnalyzerEngine, text: str, span: str) -> None:
    assert found(analyzer, text) == [("KR_RRN", span)]


def test_post2020_random_serial_is_flagged(analyzer: AnalyzerEngine) -> None:
    checksum = analyzer.analyze(text=f"고객 {_h(RRN)} 문의", language="ko")
    bad = str((int(RRN[12]) + 1) % 10)  # any other last digit: a post-2020 random serial
    text = f"고객 {RRN[:6]}-{RRN[6:12]}{bad} 문의"
    random_serial = analyzer.analyze(text=text, language="ko")
    assert found(analyzer, text) == [("KR_RRN", f"{RRN[:6]}-{RRN[6:12]}{bad}")]
    assert random_serial[0].score < checksum[0].score  # the check digit raises confidence


def test_foreigner_numbers_are_their_own_entity(analyzer: AnalyzerEngine) -> None:
    assert found(analyzer, f"외국인등록번호 {_h(FRN)}") == [("KR_FRN", _h(FRN))]
    assert found(analyzer, f"외국인 {FRN[:6]}-{FRN[6]}******") == [
        ("KR_FRN", f"{FRN[:6]}-{FRN[6]}******")]


@pytest.mark.parametrize("text", [
    "900230-1234567 확인",  # February 30th
    "901301-1234567",  # month 13
    "주문번호 2024031512345",  # year-first order number: month 24 is no month
    "900101-12345678",  # 14 digits: part of something longer
    "1900101-1234567",  # 7 digits before the separator
    "******-*******",  # nothing left to recognise
])
def test_rrn_lookalikes_are_not_flagged(analyzer: AnalyzerEngine, text: str) -> None:
    assert [e for e, _ in found(analyzer, text) if e in ("KR_RRN", "KR_FRN")] == []


@pytest.mark.parametrize(("text", "entity", "span"), [
    ("연락처 010-1234-5678로", "KR_PHONE", "010-1234-5678"),
    ("01012345678 회신", "KR_PHONE", "01012345678"),
    ("010.1234.5678", "KR_PHONE", "010.1234.5678"),
    ("010 1234 5678", "KR_PHONE", "010 1234 5678"),
    ("+82 10-1234-5678", "KR_PHONE", "+82 10-1234-5678"),
    ("+82-10-1234-5678", "KR_PHONE", "+82-10-1234-5678"),
    ("０１０－１２３４－５６７８", "KR_PHONE", "０１０－１２３４－５６７８"),
    ("자택 02-123-4567", "KR_PHONE", "02-123-4567"),
    ("사무실 031-123-4567", "KR_PHONE", "031-123-4567"),
    ("메일 hong.gd@example.co.kr로", "EMAIL_ADDRESS", "hong.gd@example.co.kr"),
    ("이메일hong_1@mail.example으로", "EMAIL_ADDRESS", "hong_1@mail.example"),  # glued
    ("카드번호 4111-1111-1111-1111", "CREDIT_CARD", "4111-1111-1111-1111"),
    ("카드 4111 1111 1111 1111 분실", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("아멕스 3782-822463-10005", "CREDIT_CARD", "3782-822463-10005"),
    ("환불계좌 110-123-456789", "KR_BANK_ACCOUNT", "110-123-456789"),
    ("국민은행 123456-12-123456 입금", "KR_BANK_ACCOUNT", "123456-12-123456"),
    ("카카오뱅크 3333-12-1234567로 이체", "KR_BANK_ACCOUNT", "3333-12-1234567"),
    ("입금 계좌 1002123456789", "KR_BANK_ACCOUNT", "1002123456789"),  # plain, with context
    ("사업자등록번호 220-81-62517", "KR_BRN", "220-81-62517"),
    ("여권번호 M12345678", "KR_PASSPORT", "M12345678"),
    ("여권 M123A4567 갱신", "KR_PASSPORT", "M123A4567"),  # post-2021 form
    ("운전면허 11-12-345678-90", "KR_DRIVER_LICENSE", "11-12-345678-90"),
    ("면허번호 서울 12-345678-90", "KR_DRIVER_LICENSE", "서울 12-345678-90"),
])
def test_other_entities(analyzer: AnalyzerEngine, text: str, entity: str, span: str) -> None:
    assert found(analyzer, text) == [(entity, span)]


@pytest.mark.parametrize("text", [
    "2024-03-15 방문 예약",  # date
    "2024.03.15 오후 3시",  # dotted date
    "이체 금액 1,234,567원",  # amount
    "주문번호 2024-0312-5567 배송",  # order number in an account-like layout
    "송장번호 6123-4567-8901 조회",  # tracking number
    "주문번호 4111-1111-1111-1111 결제 확인",  # a Luhn-valid order number, said so
    "결제 1234-5678-9012-3456",  # 16 digits that fail Luhn
    "대표번호 1588-1234 안내",  # business number, not personal
    "110-123-456789",  # account-like digits without any context word
    "사업자 123-45-67890",  # business number with a failing check digit
    "14:30 콜백, 3층 301호",  # times and rooms
    "상품코드 M12345678",  # passport-like product code, said so
    "99-12-345678-90",  # licence-like, but no region 99
])
def test_lookalikes_are_not_flagged(analyzer: AnalyzerEngine, text: str) -> None:
    assert found(analyzer, text) == []


@pytest.mark.parametrize(("text", "spans"), [
    ("홍길동 고객 방문", ["홍길동"]),
    ("홍길동님께서 문의", ["홍길동"]),  # honorific glued on
    ("길동님 재통화", ["길동"]),  # given name with an honorific
    ("홍길동이 직접 방문, 홍길동씨", ["홍길동", "홍길동"]),
    ("홍씨 성의 다른 고객", []),  # the surname alone is not the name
])
def test_person_deny_list(analyzer: AnalyzerEngine, text: str, spans: list[str]) -> None:
    assert found(analyzer, text, ("홍길동",)) == [("PERSON", s) for s in spans]


def test_person_matches_nothing_without_names(analyzer: AnalyzerEngine) -> None:
    assert found(analyzer, "홍길동 고객 방문") == []


def test_build_analyzer_restricts_entities() -> None:
    only_phone = build_analyzer(["KR_PHONE"])
    text = f"주민번호 {_h(RRN)}, 연락처 010-1234-5678"
    assert found(only_phone, text) == [("KR_PHONE", "010-1234-5678")]
    assert only_phone.get_supported_entities("ko") == ["KR_PHONE"]


def test_build_analyzer_refuses_unknown_entities() -> None:
    from pseudonymizer.scrub import UnknownEntity

    with pytest.raises(UnknownEntity, match="unknown entity `US_SSN`"):
        build_analyzer(["KR_RRN", "US_SSN"])


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert brn_check_ok("2208162517") and not brn_check_ok("2208162518")


def test_presidio_path_and_direct_path_agree(analyzer: AnalyzerEngine) -> None:
    """Options the direct path does not cover go through presidio's own `analyze`."""
    text = f"주민번호 {_h(RRN)}, 연락처 010-1234-5678, 계좌 110-123-456789, 송장 6123-4567-8901"
    direct = found(analyzer, text)
    via_presidio = [(r.entity_type, text[r.start:r.end]) for r in analyzer.analyze(
        text=text, language="ko", return_decision_process=True)]
    assert direct == via_presidio
    allowed = analyzer.analyze(text=text, language="ko", allow_list=["010-1234-5678"])
    assert [text[r.start:r.end] for r in allowed] == [_h(RRN), "110-123-456789"]
