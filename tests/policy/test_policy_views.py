"""Each view kind shapes values exactly as docs/DATA-MODEL.md declares."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.errors import UnknownView
from gateway.policy import Policy
from gateway.policy.views import (
    VIEW_KINDS,
    BooleanView,
    BucketedView,
    ExactView,
    GeneralizedView,
    MaskedView,
    TopKView,
    View,
    ViewInputError,
)

TODAY = date(2025, 6, 15)
INCOME = BucketedView(bounds=(0, 20_000_000, 40_000_000, 60_000_000, 100_000_000, 200_000_000))


def test_registry_has_one_class_per_kind() -> None:
    assert set(VIEW_KINDS) == {"exact", "bucketed", "generalized", "masked", "boolean", "top_k",
                               "scrubbed"}
    assert all(cls.kind == name for name, cls in VIEW_KINDS.items())


@pytest.mark.parametrize(("value", "expected"), [
    ("홍길동", "홍길동"),
    (date(1990, 1, 1), "1990-01-01"),  # dates as ISO strings
    (["플래티넘", "체크"], ["플래티넘", "체크"]),
    ([{"category": "외식", "amount": 1}], [{"category": "외식", "amount": 1}]),
    (0, 0),
])
def test_exact(value: Any, expected: Any) -> None:
    assert ExactView().apply(value, today=TODAY) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (-1, {"gte": None, "lt": 0}),  # below the first bound: open below
    (0, {"gte": 0, "lt": 20_000_000}),  # a bound belongs to the band it starts
    (19_999_999, {"gte": 0, "lt": 20_000_000}),
    (20_000_000, {"gte": 20_000_000, "lt": 40_000_000}),
    (199_999_999.5, {"gte": 100_000_000, "lt": 200_000_000}),
    (200_000_000, {"gte": 200_000_000, "lt": None}),  # from the last bound: open above
    (10**12, {"gte": 200_000_000, "lt": None}),
])
def test_bucketed(value: float, expected: dict[str, Any]) -> None:
    assert INCOME.apply(value, today=TODAY) == expected


@pytest.mark.parametrize("bounds", [(), (1, 1), (3, 2), (0, 5, 5, 9)])
def test_bucketed_bounds_must_strictly_increase(bounds: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError, match="bounds"):
        BucketedView(bounds=bounds)


@pytest.mark.parametrize(("birth", "level", "width", "expected"), [
    (date(1990, 6, 15), "age_band", None, "30-39"),  # 35th birthday today: counts already
    (date(1995, 6, 15), "age_band", None, "30-39"),  # exactly 30 today
    (date(1995, 6, 16), "age_band", None, "20-29"),  # 30 only tomorrow
    (date(2025, 6, 15), "age_band", None, "0-9"),  # born today
    (date(1990, 6, 15), "age_band", 5, "35-39"),
    (date(1991, 1, 1), "age_band", 5, "30-34"),
    (date(2004, 2, 29), "birth_year", None, 2004),
])
def test_generalized_dates(birth: date, level: str, width: int | None, expected: Any) -> None:
    view = GeneralizedView(level=level, width=width)  # type: ignore[arg-type]
    assert view.apply(birth, today=TODAY) == expected


@pytest.mark.parametrize(("today", "expected"), [
    (date(2023, 2, 28), "10-19"),  # 18 until the leap birthday would be; turns 19 on 1 March
    (date(2023, 3, 1), "10-19"),
    (date(2024, 2, 29), "20-29"),  # 20 on the day itself in a leap year
])
def test_age_band_leap_day_birthday(today: date, expected: str) -> None:
    assert GeneralizedView(level="age_band").apply(date(2004, 2, 29), today=today) == expected


@pytest.mark.parametrize(("address", "sido", "sigungu"), [
    ("서울특별시 강남구 테헤란로 152, 101동 1203호", "서울특별시", "서울특별시 강남구"),  # 특별시
    ("부산광역시 해운대구 해운대로 570", "부산광역시", "부산광역시 해운대구"),  # 광역시
    ("인천광역시 강화군 강화읍 강화대로 394", "인천광역시", "인천광역시 강화군"),  # 광역시의 군
    ("경기도 성남시 분당구 판교역로 235", "경기도", "경기도 성남시 분당구"),  # 도 > 시 > 일반구
    ("경기도 가평군 가평읍 석봉로 181", "경기도", "경기도 가평군"),  # 도 > 군
    ("강원특별자치도 춘천시 중앙로 1", "강원특별자치도", "강원특별자치도 춘천시"),  # 시 without 구
    ("제주특별자치도 제주시 문연로 6", "제주특별자치도", "제주특별자치도 제주시"),  # 특별자치도
    ("세종특별자치시 한누리대로 2130", "세종특별자치시", "세종특별자치시"),  # no 시군구 level
    ("  대구광역시  중구 공평로 88  ", "대구광역시", "대구광역시 중구"),  # stray spaces
])
def test_generalized_addresses(address: str, sido: str, sigungu: str) -> None:
    assert GeneralizedView(level="sido").apply(address, today=TODAY) == sido
    assert GeneralizedView(level="sigungu").apply(address, today=TODAY) == sigungu


@pytest.mark.parametrize(("style", "value", "expected"), [
    ("name", "홍길동", "홍*동"),
    ("name", "김철", "김*"),  # two characters: only the family name stays
    ("name", "남궁민수", "남**수"),  # four characters
    ("name", "이", "*"),
    ("phone", "010-1234-5678", "010-****-5678"),
    ("phone", "01012345678", "010-****-5678"),
    ("phone", "011-123-4567", "011-***-4567"),  # old 3-digit middle group
    ("phone", "02-123-4567", "02-***-4567"),  # Seoul area code has 2 digits
    ("email", "hong@example.com", "h***@example.com"),
    ("email", "a@b.kr", "a***@b.kr"),  # length of the local part is not revealed
    ("rrn", "900101-1******", "900101-1******"),  # stored already masked
    ("rrn", "900101-1234567", "900101-1******"),  # raw digits are masked too
    ("rrn", "0001013234567", "000101-3******"),
])
def test_masked(style: str, value: str, expected: str) -> None:
    assert MaskedView(style=style).apply(value, today=TODAY) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("when", "value", "expected"), [
    ("positive", 1, True),
    ("positive", 0, False),
    ("positive", -5, False),
    ("nonempty", ["플래티넘"], True),
    ("nonempty", [], False),
    ("present", "아반떼", True),
    ("present", None, False),  # no insured car: the answer is false, not a gap
    ("present", "", False),
])
def test_boolean(when: str, value: Any, expected: bool) -> None:
    assert BooleanView(when=when).apply(value, today=TODAY) is expected  # type: ignore[arg-type]


SPENDING = [
    {"category": "외식", "amount": 320_000},
    {"category": "교통", "amount": 80_000},
    {"category": "쇼핑", "amount": 450_000},
    {"category": "여행", "amount": 320_000},
]


@pytest.mark.parametrize(("k", "records", "expected"), [
    (3, SPENDING, ["쇼핑", "외식", "여행"]),  # 외식 and 여행 tie: stored order decides
    (1, SPENDING, ["쇼핑"]),
    (10, SPENDING[:2], ["외식", "교통"]),  # fewer records than k
    (3, [], []),
])
def test_top_k(k: int, records: list[dict[str, Any]], expected: list[str]) -> None:
    assert TopKView(k=k, field="category", by="amount").apply(records, today=TODAY) == expected


@pytest.mark.parametrize(("view", "value", "message"), [
    (INCOME, "1000", "view kind `bucketed` expects a number: got `str`"),
    (INCOME, True, "expects a number: got `bool`"),
    (GeneralizedView(level="age_band"), "1990-01-01", "expects a date: got `str`"),
    (GeneralizedView(level="age_band"), date(2030, 1, 1), "not after the decision date"),
    (GeneralizedView(level="sido"), "   ", "expects a non-empty address"),
    (MaskedView(style="phone"), "1234", "expects a well-formed phone"),
    (MaskedView(style="email"), "no-at-sign", "expects a well-formed email"),
    (MaskedView(style="rrn"), "900101", "expects a well-formed rrn"),
    (BooleanView(when="nonempty"), 3, "expects a list or text"),
    (TopKView(k=1, field="category", by="amount"), [{"category": "외식"}],
     "expects records with `category` and `amount`"),
])
def test_values_that_do_not_fit_are_refused_without_echoing_them(
    view: View, value: Any, message: str,
) -> None:
    with pytest.raises(ViewInputError, match=message) as info:
        view.apply(value, today=TODAY)
    if isinstance(value, str) and value.strip():
        assert value not in str(info.value)  # personal data never lands in a message


@pytest.mark.parametrize(("attribute", "view", "value", "expected"), [
    ("birth_date", "age_band", date(1985, 3, 2), "40-49"),
    ("birth_date", "exact", date(1985, 3, 2), "1985-03-02"),
    ("address", "sigungu", "경기도 성남시 분당구 판교역로 235", "경기도 성남시 분당구"),
    ("deposit_balance", "has_deposit", 0, False),
    ("credit_grade", "band", 4, {"gte": 4, "lt": 7}),
    ("top_spending_categories", "top3", SPENDING, ["쇼핑", "외식", "여행"]),
    ("name", "masked", None, None),  # no value stays no value
    ("insured_car_model", "has_car", None, False),  # except where absence is the answer
])
def test_attribute_apply_view(shipped_policy: Policy, attribute: str, view: str, value: Any,
                              expected: Any) -> None:
    assert shipped_policy.attributes[attribute].apply_view(view, value, today=TODAY) == expected  # type: ignore[index]


def test_attribute_apply_unknown_view(shipped_policy: Policy) -> None:
    with pytest.raises(UnknownView, match="view `unmasked` is not defined for attribute `rrn`"):
        shipped_policy.attributes["rrn"].apply_view("unmasked", "900101-1******", today=TODAY)  # type: ignore[index]
