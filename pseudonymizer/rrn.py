"""Parse and validate Korean resident (주민등록번호) and foreigner (외국인등록번호) numbers.

Layout `YYMMDD-GSSSSSC` (13 digits):
- `YYMMDD` birth date; `G` century, sex and nationality; `SSSSSC` the serial part.
- Residents: 주민등록법 제7조의2 and 주민등록법 시행규칙 제2조 (주민등록번호의 작성).
  Before October 2020 the serial was region (2 digits), registration office (2), order of
  registration (1) and a check digit (1). Since 2020-10-05 the six serial digits are assigned
  at random and carry no check digit (행정안전부, "주민등록번호 뒷자리 지역번호 폐지", 2020).
- Foreigners: 출입국관리법 제31조 제5항 (외국인등록번호); same layout, `G` in 5..8.
- The check digit algorithm is not in the statute text; it is the public de-facto rule,
  implemented identically by python-stdnum (`stdnum.kr.rrn`) and Microsoft Presidio
  (`KrRrnRecognizer`, `KrFrnRecognizer`): weights 2,3,4,5,6,7,8,9,2,3,4,5 over the first 12
  digits; residents `(11 - sum % 11) % 10`, foreigners `(13 - sum % 11) % 10`.

INVARIANT: nothing here ever puts the number into a message, a repr or a str.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum, StrEnum
from typing import Literal

from pseudonymizer.errors import InvalidNationalId

__all__ = [
    "Confidence",
    "IdForm",
    "InvalidNationalId",
    "NationalId",
    "Sex",
    "check_digit",
    "generate_rrn",
    "contains_national_id",
    "is_valid_rrn_like",
    "parse_national_id",
]

Kind = Literal["resident", "foreigner"]

_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


class Sex(IntEnum):
    """ISO/IEC 5218 codes, so `sex=1` / `sex=2` read naturally at call sites."""

    MALE = 1
    FEMALE = 2


class IdForm(StrEnum):
    CHECKSUM = "checksum"  # pre-2020 layout: the check digit holds
    RANDOM_SERIAL = "random-serial"  # post-2020 layout (or a typo we cannot tell apart)


class Confidence(StrEnum):
    HIGH = "high"  # date, century digit and check digit all hold
    MEDIUM = "medium"  # date and century digit hold; serial is random (or mistyped)


@dataclass(frozen=True, slots=True)
class _Century:
    base_year: int
    kind: Kind
    sex: Sex


# 7th digit → century, nationality and sex (see the module docstring for sources).
_CENTURY: dict[str, _Century] = {
    "9": _Century(1800, "resident", Sex.MALE),
    "0": _Century(1800, "resident", Sex.FEMALE),
    "1": _Century(1900, "resident", Sex.MALE),
    "2": _Century(1900, "resident", Sex.FEMALE),
    "3": _Century(2000, "resident", Sex.MALE),
    "4": _Century(2000, "resident", Sex.FEMALE),
    "5": _Century(1900, "foreigner", Sex.MALE),
    "6": _Century(1900, "foreigner", Sex.FEMALE),
    "7": _Century(2000, "foreigner", Sex.MALE),
    "8": _Century(2000, "foreigner", Sex.FEMALE),
}

# Real-world notations: full-width digits and punctuation (IME input), and the dashes word
# processors substitute for a hyphen. Translated explicitly rather than by NFKC, which would
# also turn circled or superscript digits into digits.
NOTATION_CHARACTERS: dict[str, str] = {
    **{chr(0xFF10 + i): str(i) for i in range(10)},  # ０-９
    "\uff0d": "-",  # full-width hyphen-minus
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\ufe63": "-",  # small hyphen-minus
    "\uff0e": ".",  # full-width full stop
    "\u00a0": " ",  # no-break space
    "\u3000": " ",  # ideographic space
    "\t": " ",
}
_NORMALIZE = str.maketrans(NOTATION_CHARACTERS)
_ASCII_DIGITS = frozenset("0123456789")
# Six digits, at most one separator (with optional spaces around it), seven digits.
_NOTATION = re.compile(r"([0-9]{6}) *(?:[-.] *)?([0-9]{7})")


@dataclass(frozen=True, slots=True, repr=False)
class NationalId:
    """A validated number; `digits` is the canonical 13-digit form and is never printed."""

    digits: str = field(repr=False)
    kind: Kind
    sex: Sex
    birth_date: date
    form: IdForm
    confidence: Confidence

    def masked(self) -> str:
        """Birth date and century digit only: `900101-1******`."""
        return f"{self.digits[:6]}-{self.digits[6]}******"

    def __repr__(self) -> str:
        return f"NationalId({self.masked()})"

    def __str__(self) -> str:
        return self.masked()


def check_digit(first12: str, *, foreigner: bool) -> int:
    """The pre-2020 check digit over the first 12 digits (rule in the module docstring)."""
    total = sum(w * int(d) for w, d in zip(_WEIGHTS, first12, strict=True))
    return ((13 if foreigner else 11) - total % 11) % 10


def _canonical_digits(text: str) -> str:
    """The 13 digits of `text`, or `InvalidNationalId` saying what is wrong with it."""
    normalized = text.translate(_NORMALIZE).strip()
    match = _NOTATION.fullmatch(normalized)
    if match is not None:
        return match.group(1) + match.group(2)
    # Diagnose without echoing anything from the input.
    rest = normalized.replace(" ", "").replace("-", "").replace(".", "")
    if not set(rest) <= _ASCII_DIGITS:
        raise InvalidNationalId("contains characters other than digits and one separator")
    if len(rest) != 13:
        raise InvalidNationalId(f"expected 13 digits, got {len(rest)}")
    raise InvalidNationalId("separator must sit between the 6th and 7th digit")


def parse_national_id(text: str, *, today: date | None = None) -> NationalId:
    """Normalize and validate a resident or foreigner registration number.

    Accepts `900101-1234567`, `9001011234567`, `900101 - 1234567`, full-width digits and
    hyphen, a dot, and en/em dash or minus sign as the separator. A failing check digit is
    accepted (post-2020 random serial) but lowers `confidence`. Birth dates after `today`
    (default: the local date) are rejected: nobody is registered before being born.
    """
    digits = _canonical_digits(text)
    # Every digit 0-9 names a century, so the 7th digit is checked through the date: a
    # `3` with year `99` is 2099 and fails as a future birth date, `1` with `000229` fails
    # because 1900 is not a leap year.
    century = _CENTURY[digits[6]]
    try:
        born = date(century.base_year + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        raise InvalidNationalId(
            "birth date (digits 1-6) is not a real date in the century the 7th digit names"
        ) from None
    if born > (today or date.today()):
        raise InvalidNationalId(
            "birth date (digits 1-6) is in the future for the century the 7th digit names"
        )
    foreigner = century.kind == "foreigner"
    holds = check_digit(digits[:12], foreigner=foreigner) == int(digits[12])
    return NationalId(
        digits=digits,
        kind=century.kind,
        sex=century.sex,
        birth_date=born,
        form=IdForm.CHECKSUM if holds else IdForm.RANDOM_SERIAL,
        confidence=Confidence.HIGH if holds else Confidence.MEDIUM,
    )


def is_valid_rrn_like(text: str) -> bool:
    """True when `text` parses as either form (for scanners that look for leaked numbers)."""
    try:
        parse_national_id(text)
    except InvalidNationalId:
        return False
    return True


# Anywhere in a text: six digits, at most one separator, seven digits — or the masked form
# `900101-1******` (still a birth date and sex) — not inside a longer run of digits.
_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{6}) *(?:[-.] *)?([0-9]{7}|[0-9]\*{6})(?![0-9*])")


def contains_national_id(text: str, *, today: date | None = None) -> bool:
    """True when `text` holds something that reads as a resident or foreigner number, in any
    notation `parse_national_id` accepts, or masked after the 7th digit. For refusing free-text
    fields that must never store one; says nothing about where (nothing to echo)."""
    normalized = text.translate(_NORMALIZE)
    for match in _IN_TEXT.finditer(normalized):
        first, rest = match.group(1), match.group(2)
        try:
            parse_national_id(first + rest[0] + "0" * 6 if "*" in rest else first + rest,
                              today=today)
        except InvalidNationalId:
            continue
        return True
    return False


def _century_digit(birth: date, sex: Sex, *, foreigner: bool) -> str:
    kind: Kind = "foreigner" if foreigner else "resident"
    for digit, c in _CENTURY.items():
        if c.base_year == birth.year // 100 * 100 and c.sex == sex and c.kind == kind:
            return digit
    raise ValueError(f"no {kind} century digit for birth year {birth.year}")


def generate_rrn(
    rng: random.Random,
    birth: date,
    sex: int,
    *,
    foreigner: bool = False,
    post2020: bool = False,
) -> str:
    """A synthetic 13-digit number (no separator) for test and demo data.

    Pre-2020 form: a plausible serial — region 00-95 and office for residents; an even
    registration office and a registrant-type digit 6-9 for foreigners — and a valid check
    digit. Post-2020 form: six random digits, which pass the checksum by chance 1 time in 10.
    """
    code = Sex(sex)  # ValueError for anything but 1 or 2
    head = f"{birth:%y%m%d}" + _century_digit(birth, code, foreigner=foreigner)
    if post2020:
        return head + f"{rng.randrange(1_000_000):06d}"
    if foreigner:
        serial = f"{rng.randrange(0, 100, 2):02d}{rng.randrange(100):02d}{rng.randint(6, 9)}"
    else:
        serial = f"{rng.randint(0, 95):02d}{rng.randrange(100):02d}{rng.randint(1, 9)}"
    first12 = head + serial
    return first12 + str(check_digit(first12, foreigner=foreigner))
