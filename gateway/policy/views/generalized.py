"""The `generalized` view: birth date → age band or birth year; address → 시/도 or 시/군/구.

Ages are 만 나이, full years since birth (민법 제158조, as amended in 2023): the age goes up on
the birthday itself. Someone born on 29 February gets a year older on 1 March in common years.

Korean addresses (도로명주소, 도로명주소법 제2조) start with the 시/도 (특별시, 광역시,
특별자치시, 도, 특별자치도), then the 시/군/구. A 시 of a 도 may be split into 일반구
(e.g. 경기도 성남시 분당구); `sigungu` keeps that 구 too, as 행정안전부's 시군구 code does.
세종특별자치시 has no 시/군/구 below it, so its `sigungu` is the 시/도 alone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, StrictInt, model_validator

from gateway.policy.views.base import JsonValue, View

DEFAULT_AGE_BAND_WIDTH = 10


def age_on(birth: date, today: date) -> int:
    """Full years from `birth` to `today` (만 나이)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def sido(address: str) -> str:
    return address.split()[0]


def sigungu(address: str) -> str:
    tokens = address.split()
    kept = tokens[:1]
    rest = tokens[1:3]
    if rest and rest[0].endswith(("시", "군", "구")):
        kept.append(rest[0])
        # A 일반구 under a 시 (성남시 분당구) is part of the same unit; a 군 or 자치구 ends it.
        if rest[0].endswith("시") and len(rest) > 1 and rest[1].endswith("구"):
            kept.append(rest[1])
    return " ".join(kept)


class GeneralizedView(View):
    kind: ClassVar[str] = "generalized"
    applies_to: ClassVar[frozenset[str]] = frozenset({"date", "text"})

    level: Literal["age_band", "birth_year", "sido", "sigungu"]
    width: StrictInt | None = Field(None, ge=1, le=100)  # age_band only; default 10

    @model_validator(mode="after")
    def _width_only_for_age_band(self) -> GeneralizedView:
        if self.width is not None and self.level != "age_band":
            raise ValueError(f"`width` applies only to level `age_band`, not `{self.level}`")
        return self

    def type_problem(self, attribute_type: str) -> str | None:
        expected = "date" if self.level in ("age_band", "birth_year") else "text"
        if attribute_type != expected:
            return (f"generalized level `{self.level}` needs attribute type `{expected}`, "
                    f"not `{attribute_type}`")
        return None

    def apply(self, value: Any, *, today: date) -> JsonValue:
        if self.level in ("age_band", "birth_year"):
            if isinstance(value, datetime) or not isinstance(value, date):
                raise self._reject("a date", value)
            if self.level == "birth_year":
                return value.year
            age = age_on(value, today)
            if age < 0:
                raise self._reject("a birth date not after the decision date", value)
            width = self.width or DEFAULT_AGE_BAND_WIDTH
            lower = age // width * width
            return f"{lower}-{lower + width - 1}"
        if not isinstance(value, str) or not value.strip():
            raise self._reject("a non-empty address", value)
        return sido(value) if self.level == "sido" else sigungu(value)
