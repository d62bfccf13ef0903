"""Fuzzing the national id parser and the scanners that look for national ids in free text.

- `parse_national_id` on any text, and on near-number shapes (digits with every separator the
  module knows and some it does not, full-width and other scripts' digits, spaces, tabs): a
  `NationalId` or `InvalidNationalId`, nothing else; no message repeats a run of the digits;
  a parsed number's notations all parse to the same value, and its repr and str are masked.
- `contains_national_id` (the check of stored free text, gateway/freetext.py) and the scrubber's
  `KR_RRN` / `KR_FRN` recognizers find every valid number embedded in any text, in every
  notation they document, as long as it is not glued to other digits.

Numbers come from `generate_rrn` (synthetic; Hypothesis never prints a real one). Bounded for CI
by tests/fuzzing.py; run longer with `--hypothesis-profile=long`.
"""

from __future__ import annotations

import random
import re
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.freetext import NationalIdInText, refuse_national_id
from pseudonymizer.rrn import (
    InvalidNationalId,
    NationalId,
    contains_national_id,
    generate_rrn,
    is_valid_rrn_like,
    parse_national_id,
)
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer, fold_text
from pseudonymizer.scrub.recognizers.kr_frn import KrFrnRecognizer
from pseudonymizer.scrub.recognizers.kr_rrn import KrRrnRecognizer
from tests.fuzzing import fuzz

TODAY = date(2026, 6, 1)
WIDE = str.maketrans("0123456789", "０１２３４５６７８９")
# digits of other scripts: not a notation the module reads (no NFKC), never a crash
OTHER_DIGITS = ("٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "⁰¹²³⁴⁵⁶⁷⁸⁹", "⓪①②③④⑤⑥⑦⑧⑨", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")
# separators `parse_national_id` documents: hyphen, dot, en/em dash, minus, full-width hyphen…
SEPARATORS = ("", "-", ".", " - ", "  -  ", " ", "\u2013", "\u2014", "\u2212", "\uff0d", "\u2010",
              "\u2011", "\u2012", "\ufe63", "\uff0e", "\u00a0-\u3000", "\t-\t")
# what the scrubber's recognizers read: up to three spaces around a hyphen or dot, or one space
RECOGNIZED_SEPARATORS = ("", "-", ".", " - ", "   -   ", " ", "\u2013", "\u2212", "\uff0d")
# glue that keeps a number apart from what surrounds it (no digit, sign, dot or mask)
GLUE = st.sampled_from([" ", "가", "a", ":", "/", "(", ")", "\n", "번", "는", "=", "#", "、"])
# any text, with digits, for the noise around an embedded number
noise = st.text(max_size=30) | st.text(alphabet="0123456789-. *가나다abc", max_size=30)

numbers = st.builds(
    lambda seed, birth, sex, foreigner, post2020: generate_rrn(
        random.Random(seed), birth, sex, foreigner=foreigner, post2020=post2020),
    st.integers(0, 2**32), st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.sampled_from([1, 2]), st.booleans(), st.booleans())


def written(digits: str, separator: str, wide: bool) -> str:
    text = f"{digits[:6]}{separator}{digits[6:]}"
    return text.translate(WIDE) if wide else text


def assert_no_digits_echoed(message: str, text: str) -> None:
    runs = re.findall(r"[0-9]{4,}", text.translate(WIDE))
    assert not any(run in message for run in runs), message


def parse_or_refuse(text: str) -> NationalId | None:
    try:
        nid = parse_national_id(text, today=TODAY)
    except InvalidNationalId as exc:
        assert_no_digits_echoed(str(exc), text)
        return None
    assert nid.digits not in repr(nid) and nid.digits not in str(nid)
    return nid


@fuzz(300)
@given(text=st.text(max_size=40) | st.text(alphabet="0123456789 -.\u2013\uff0d０１２３９*",
                                            max_size=20))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    nid = parse_or_refuse(text)
    if nid is not None:  # canonical: the 13 digits parse to the very same value
        assert is_valid_rrn_like(text)  # (its `today` is the real one, later than TODAY)
        assert parse_national_id(nid.digits, today=TODAY) == nid
        assert len(nid.digits) == 13 and nid.digits.isascii() and nid.digits.isdigit()
    contains_national_id(text, today=TODAY)  # never raises either


@fuzz(200)
@given(digits=numbers, separator=st.sampled_from(SEPARATORS), wide=st.booleans(),
       pad=st.sampled_from(["", " ", "\u3000", "\t", "  \u00a0"]))
def test_every_documented_notation_parses_to_the_same_number(digits: str, separator: str,
                                                             wide: bool, pad: str) -> None:
    nid = parse_national_id(pad + written(digits, separator, wide) + pad, today=TODAY)
    assert nid == parse_national_id(digits, today=TODAY) and nid.digits == digits


@fuzz(150)
@given(digits=numbers, script=st.sampled_from(OTHER_DIGITS), separator=st.sampled_from(["", "-"]),
       at=st.integers(0, 12), separators=st.text(alphabet="-.–—_/,", min_size=2, max_size=4))
def test_near_numbers_are_refused_without_echo(digits: str, script: str, separator: str,
                                               at: int, separators: str) -> None:
    """Another script's digit, two separators, or a separator in the wrong place: refused."""
    foreign = digits[:at] + script[int(digits[at])] + digits[at + 1:]
    assert parse_or_refuse(written(foreign, separator, False)) is None
    assert parse_or_refuse(f"{digits[:6]}{separators}{digits[6:]}") is None
    assume(at != 6)
    assert parse_or_refuse(f"{digits[:at]}-{digits[at:]}") is None


@fuzz(300)
@given(digits=numbers, separator=st.sampled_from(SEPARATORS[:13]), wide=st.booleans(),
       left=noise, right=noise, glue=st.tuples(GLUE, GLUE))
def test_the_free_text_check_finds_every_number_in_noise(digits: str, separator: str, wide: bool,
                                                         left: str, right: str,
                                                         glue: tuple[str, str]) -> None:
    text = left + glue[0] + written(digits, separator, wide) + glue[1] + right
    assert contains_national_id(text, today=TODAY)
    masked = f"{digits[:6]}-{digits[6]}******"
    assert contains_national_id(left + glue[0] + masked + glue[1] + right, today=TODAY)
    with pytest.raises(NationalIdInText) as refused:
        refuse_national_id("evidence_ref", text)
    assert_no_digits_echoed(str(refused.value), text)


RECOGNIZERS: dict[bool, KoreanRecognizer] = {False: KrRrnRecognizer(), True: KrFrnRecognizer()}


@fuzz(300)
@given(digits=numbers, separator=st.sampled_from(RECOGNIZED_SEPARATORS), wide=st.booleans(),
       left=noise, right=noise, glue=st.tuples(GLUE, GLUE))
def test_the_scrubber_finds_every_number_in_noise(digits: str, separator: str, wide: bool,
                                                  left: str, right: str,
                                                  glue: tuple[str, str]) -> None:
    number = written(digits, separator, wide)
    text = left + glue[0] + number + glue[1] + right
    start = len(left) + 1
    recognizer = RECOGNIZERS[digits[6] in "5678"]
    found = recognizer.analyze(fold_text(text), [recognizer.ENTITY])
    assert any((r.start, r.end) == (start, start + len(number)) and r.score > 0 for r in found)


@fuzz(200)
@given(text=st.text(max_size=60) | st.text(alphabet="0123456789 -.*xX●가뒷자리는", max_size=60))
def test_the_scrubber_never_fails_on_any_text(text: str) -> None:
    for recognizer in RECOGNIZERS.values():
        for result in recognizer.analyze(fold_text(text), [recognizer.ENTITY]):
            assert 0 <= result.start < result.end <= len(text) and 0 < result.score <= 1
