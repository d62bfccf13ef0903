"""`Scrubber`: operators per entity, counts only, the pre-filter, and failing closed."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from pseudonymizer.rrn import generate_rrn
from pseudonymizer.scrub import (
    InvalidOperator,
    OperatorSpec,
    Scrubber,
    ScrubError,
    UnknownEntity,
    parse_operators,
)

RRN = generate_rrn(random.Random(7), date(1990, 1, 1), 1)
RRN_H = f"{RRN[:6]}-{RRN[6:]}"
MEMO = (f"홍길동 고객 주민번호 {RRN_H}로 확인, 연락처 010-1234-5678 / hong@example.com, "
        "카드 4111-1111-1111-1111, 환불계좌 110-123-456789, 2024-03-15 방문, 1,250,000원")


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber()


def test_default_operators(scrubber: Scrubber) -> None:
    result = scrubber.scrub(MEMO, names=["홍길동"])
    assert result.text == (
        "<이름> 고객 주민번호 <주민등록번호>로 확인, 연락처 ***-****-5678 / h***@example.com, "
        "카드 ****-****-****-1111, 환불계좌 ***-***-******, 2024-03-15 방문, 1,250,000원")
    assert result.counts == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1, "KR_BANK_ACCOUNT": 1,
                             "KR_PHONE": 1, "KR_RRN": 1, "PERSON": 1}
    assert result.total == 6


def test_pseudonym_callback_gets_the_number(scrubber: Scrubber) -> None:
    seen: list[str] = []

    def pseudonym(text: str) -> str | None:
        seen.append(text)
        return "p1_recipient_pseudonym"

    result = scrubber.scrub(f"본인 {RRN_H}, 배우자 900101-2******", pseudonym=pseudonym)
    assert result.text == "본인 p1_recipient_pseudonym, 배우자 p1_recipient_pseudonym"
    assert sorted(seen) == sorted([RRN_H, "900101-2******"])
    # a callback that knows no such customer leaves the placeholder
    assert scrubber.scrub(f"본인 {RRN_H}", pseudonym=lambda _t: None).text == "본인 <주민등록번호>"


def test_operators_per_call(scrubber: Scrubber) -> None:
    ops = {"KR_PHONE": "redact", "EMAIL_ADDRESS": "placeholder", "CREDIT_CARD": "mask",
           "KR_RRN": "mask", "KR_BANK_ACCOUNT": {"kind": "mask_keep_last", "keep": 2},
           "PERSON": "redact"}
    text = scrubber.scrub(MEMO, names=["홍길동"], operators=ops).text
    assert text.startswith(" 고객 주민번호 ******-*******로 확인, 연락처  / <이메일>, ")
    assert "카드 ****-****-****-****" in text and "환불계좌 ***-***-****89" in text


def test_full_width_digits_are_masked_too(scrubber: Scrubber) -> None:
    wide = "０１０－１２３４－５６７８"
    assert scrubber.scrub(f"연락처 {wide}").text == "연락처 ＊＊＊－＊＊＊＊－５６７８".replace("＊", "*")


def test_adjacent_entities_are_counted_one_by_one(scrubber: Scrubber) -> None:
    result = scrubber.scrub("연락처 010-1111-2222 010-3333-4444")
    assert result.counts == {"KR_PHONE": 2}


def test_texts_without_digits_at_or_names_skip_analysis(scrubber: Scrubber,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("analyzer must not run")

    monkeypatch.setattr(scrubber.analyzer, "analyze", boom)
    result = scrubber.scrub("카드 한도 상향 문의, 고객 만족", names=["홍길동"])
    assert (result.text, result.counts) == ("카드 한도 상향 문의, 고객 만족", {})


def test_a_name_alone_is_found(scrubber: Scrubber) -> None:
    assert scrubber.scrub("홍길동님 방문", names=["홍길동", " "]).text == "<이름>님 방문"
    # the pre-filter must not skip a text holding only the given name or a spaced name
    assert scrubber.scrub("길동님 방문", names=["홍길동"]).text == "<이름>님 방문"
    assert scrubber.scrub("고객 홍 길동 방문", names=["홍길동"]).text == "고객 <이름> 방문"


def test_failing_pseudonym_callback_fails_closed(scrubber: Scrubber) -> None:
    def broken(_text: str) -> str:
        raise RuntimeError(f"lookup of {_text} failed")

    with pytest.raises(ScrubError, match="pseudonym callback failed for `KR_RRN`") as info:
        scrubber.scrub(f"주민번호 {RRN_H}", pseudonym=broken)
    assert RRN not in str(info.value) and RRN[7:] not in str(info.value)


def test_analyzer_failure_fails_closed(scrubber: Scrubber, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("regex timeout")

    monkeypatch.setattr(scrubber.analyzer, "analyze", broken)
    with pytest.raises(ScrubError, match="analysis failed: `RuntimeError`"):
        scrubber.scrub(f"주민번호 {RRN_H}")


def test_non_text_is_refused(scrubber: Scrubber) -> None:
    with pytest.raises(ScrubError, match="free text must be a string, got `int`"):
        scrubber.scrub(9001011234567)  # type: ignore[arg-type]


def test_restricted_scrubber_leaves_other_entities() -> None:
    only_rrn = Scrubber(entities=["KR_RRN"])
    result = only_rrn.scrub(f"{RRN_H}, 010-1234-5678")
    assert result.text == "<주민등록번호>, 010-1234-5678"
    with pytest.raises(UnknownEntity, match="unknown entity `KR_SSN`"):
        Scrubber(entities=["KR_SSN"])


@pytest.mark.parametrize(("raw", "message"), [
    ({"KR_PHONE": "shout"}, "unknown operator `shout`"),
    ({"US_SSN": "mask"}, "unknown entity `US_SSN` in operators"),
    ({"EMAIL_ADDRESS": "pseudonym"}, "operator `pseudonym` applies to national ids"),
    ({"KR_PHONE": "mask_keep_domain"}, "operator `mask_keep_domain` applies to emails"),
    ({"KR_PHONE": {"kind": "mask_keep_last", "keep": 9}}, "`keep` must be 0-8"),
    ({"KR_PHONE": {"kind": "mask_keep_last", "keep": "4"}}, "`keep` must be an integer"),
    ({"KR_PHONE": {"kind": "mask", "extra": 1}}, "must be a name or `kind`/`keep`"),
    ({"KR_PHONE": 3}, "must be a name or `kind`/`keep`"),
])
def test_operator_specs_are_validated(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidOperator, match=message):
        parse_operators(raw)


def test_operator_defaults_fill_the_gaps() -> None:
    specs = parse_operators({"KR_PHONE": {"kind": "mask_keep_last", "keep": 2}})
    assert specs["KR_PHONE"] == OperatorSpec("mask_keep_last", 2)
    assert specs["KR_RRN"] == OperatorSpec("pseudonym")


def test_seeded_memos_scrub_to_a_fixed_point(scrubber: Scrubber) -> None:
    """The gateway's synthetic memos: after scrubbing, nothing is left to find."""
    from gateway.seed.memos import memo_text

    rng = random.Random(11)
    for _ in range(200):
        memo = memo_text(rng, "김민준", RRN, identifier_share=1.0)
        result = scrubber.scrub(memo, names=["김민준"])
        assert result.total >= 1
        assert "김민준" not in result.text and "민준님" not in result.text
        again = scrubber.scrub(result.text, names=["김민준"])
        assert again.counts == {}, again.counts


def test_spans_survive_characters_whose_lowercase_is_longer(scrubber: Scrubber) -> None:
    # `"İ".lower()` is two code points: lowering the text would shift every later span
    result = scrubber.scrub("İİİ 연락처 010-1234-5678, JOHN SMITH", names=["John Smith"])
    assert result.text == "İİİ 연락처 ***-****-5678, <이름>"
