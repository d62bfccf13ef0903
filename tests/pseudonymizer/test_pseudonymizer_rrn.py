"""Tests for national id parsing, validation and synthetic generation.

Every number here is synthetic, and none is ever printed: parametrize ids are names, and
comparisons go through `_assert_same`, which fails without showing either operand.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymizer.rrn import (
    Confidence,
    IdForm,
    InvalidNationalId,
    NationalId,
    Sex,
    check_digit,
    generate_rrn,
    is_valid_rrn_like,
    parse_national_id,
)

TODAY = date(2025, 6, 1)
BASE = generate_rrn(random.Random(7), date(1985, 3, 14), 2)  # synthetic, checksum form


def _assert_same(got: str, want: str) -> None:
    if got != want:
        pytest.fail("normalized digits differ from the expected digits", pytrace=False)


def _assert_not_leaked(message: str, digits: str) -> None:
    # The birth part and the serial part separately: a partial echo is still a leak.
    leaked = digits in message or digits[:6] in message or digits[6:] in message
    if leaked:
        pytest.fail("error message echoes the number", pytrace=False)


def _with_check(first12: str, *, foreigner: bool = False) -> str:
    return first12 + str(check_digit(first12, foreigner=foreigner))


def _fullwidth(s: str) -> str:
    return "".join(chr(0xFF10 + int(c)) for c in s)


# --- notations ---------------------------------------------------------------------------------
NOTATIONS: list[tuple[str, Callable[[str], str]]] = [
    ("hyphen", lambda d: f"{d[:6]}-{d[6:]}"),
    ("no-separator", lambda d: d),
    ("spaces-around-hyphen", lambda d: f"{d[:6]} - {d[6:]}"),
    ("space-only", lambda d: f"{d[:6]} {d[6:]}"),
    ("surrounding-whitespace", lambda d: f"\t {d[:6]}-{d[6:]} \n"),
    ("full-width-digits-and-hyphen", lambda d: f"{_fullwidth(d[:6])}\uff0d{_fullwidth(d[6:])}"),
    ("full-width-digits-ascii-hyphen", lambda d: f"{_fullwidth(d[:6])}-{_fullwidth(d[6:])}"),
    ("dot", lambda d: f"{d[:6]}.{d[6:]}"),
    ("full-width-dot", lambda d: f"{d[:6]}\uff0e{d[6:]}"),
    ("en-dash", lambda d: f"{d[:6]}\u2013{d[6:]}"),
    ("em-dash", lambda d: f"{d[:6]}\u2014{d[6:]}"),
    ("minus-sign", lambda d: f"{d[:6]}\u2212{d[6:]}"),
    # IME input often mixes an ideographic space or a no-break space around the hyphen
    ("ideographic-and-nbsp-spaces", lambda d: f"{d[:6]}\u3000-\u00a0{d[6:]}"),
]


@pytest.mark.parametrize("notation", [n for _, n in NOTATIONS], ids=[i for i, _ in NOTATIONS])
def test_notations_normalize_to_the_same_digits(notation: Callable[[str], str]) -> None:
    nid = parse_national_id(notation(BASE), today=TODAY)
    _assert_same(nid.digits, BASE)
    assert nid.birth_date == date(1985, 3, 14)
    assert nid.sex is Sex.FEMALE
    assert nid.kind == "resident"


# --- malformed input ---------------------------------------------------------------------------
MALFORMED: list[tuple[str, Callable[[str], str], str]] = [
    ("empty", lambda d: "", r"expected 13 digits, got 0"),
    ("twelve-digits", lambda d: d[:12], r"expected 13 digits, got 12"),
    ("fourteen-digits", lambda d: d + "1", r"expected 13 digits, got 14"),
    ("hyphenated-too-short", lambda d: f"{d[:6]}-{d[6:12]}", r"expected 13 digits, got 12"),
    ("letter", lambda d: d[:12] + "X", r"characters other than digits"),
    ("letter-o-for-zero", lambda d: "O" + d[1:], r"characters other than digits"),
    # str.isdigit() accepts these; a number typed with them is still not a national id
    ("arabic-indic-digit", lambda d: d[:12] + "\u0663", r"characters other than digits"),
    ("circled-digit", lambda d: d[:12] + "\u2460", r"characters other than digits"),
    ("slash-separator", lambda d: f"{d[:6]}/{d[6:]}", r"characters other than digits"),
    ("two-hyphens", lambda d: f"{d[:6]}--{d[6:]}", r"separator must sit between the 6th and 7th"),
    ("hyphen-after-4th", lambda d: f"{d[:4]}-{d[4:]}", r"separator must sit between the 6th"),
    ("two-separators", lambda d: f"{d[:2]}.{d[2:6]}-{d[6:]}", r"separator must sit"),
]


@pytest.mark.parametrize(
    ("make", "match"), [(m, r) for _, m, r in MALFORMED], ids=[i for i, _, _ in MALFORMED]
)
def test_malformed_numbers_are_refused_without_echo(make: Callable[[str], str], match: str) -> None:
    with pytest.raises(InvalidNationalId, match=match) as info:
        parse_national_id(make(BASE), today=TODAY)
    _assert_not_leaked(str(info.value), BASE)


NOT_A_DATE = r"birth date \(digits 1-6\) is not a real date"
FUTURE = r"birth date \(digits 1-6\) is in the future"
BAD_DATES: list[tuple[str, str, str]] = [
    # (id, first 12 digits, expected error)
    ("feb-30", "900230" + "2" + "12345", NOT_A_DATE),
    ("month-13", "901301" + "1" + "12345", NOT_A_DATE),
    ("month-00", "900001" + "1" + "12345", NOT_A_DATE),
    ("day-00", "900100" + "1" + "12345", NOT_A_DATE),
    ("april-31", "900431" + "2" + "12345", NOT_A_DATE),
    # 1900 is not a leap year (divisible by 100, not by 400): `1` or `2` make it 1900
    ("1900-feb-29-resident", "000229" + "1" + "12345", NOT_A_DATE),
    ("1900-feb-29-foreigner", "000229" + "6" + "12345", NOT_A_DATE),
    # 1800 is not a leap year either (`9`/`0` are the 1800s)
    ("1800-feb-29", "000229" + "9" + "12345", NOT_A_DATE),
    ("1900s-feb-29-in-odd-year", "010229" + "2" + "12345", NOT_A_DATE),
    # the 7th digit decides the century: `3` makes 99 → 2099, which has not happened yet
    ("2099-resident", "991231" + "3" + "12345", FUTURE),
    ("2099-foreigner", "990101" + "8" + "12345", FUTURE),
    ("tomorrow", "250602" + "4" + "12345", FUTURE),
]


@pytest.mark.parametrize(("first12", "match"), [(f, m) for _, f, m in BAD_DATES],
                         ids=[i for i, _, _ in BAD_DATES])
def test_impossible_birth_dates_are_refused_without_echo(first12: str, match: str) -> None:
    digits = _with_check(first12)
    with pytest.raises(InvalidNationalId, match=match) as info:
        parse_national_id(f"{digits[:6]}-{digits[6:]}", today=TODAY)
    _assert_not_leaked(str(info.value), digits)


GOOD_DATES: list[tuple[str, str, date]] = [
    # 2000 is a leap year (divisible by 400): `3`/`4`/`7`/`8` make 000229 valid
    ("2000-feb-29-resident", "000229" + "3", date(2000, 2, 29)),
    ("2000-feb-29-foreigner", "000229" + "8", date(2000, 2, 29)),
    ("1896-feb-29", "960229" + "0", date(1896, 2, 29)),
    ("1904-feb-29", "040229" + "1", date(1904, 2, 29)),
    ("today", "250601" + "3", TODAY),
]


@pytest.mark.parametrize(("head", "born"), [(h, b) for _, h, b in GOOD_DATES],
                         ids=[i for i, _, _ in GOOD_DATES])
def test_real_edge_dates_are_accepted(head: str, born: date) -> None:
    foreigner = head[6] in "5678"
    nid = parse_national_id(_with_check(head + "12345", foreigner=foreigner), today=TODAY)
    assert nid.birth_date == born
    assert nid.kind == ("foreigner" if foreigner else "resident")


@pytest.mark.parametrize(
    ("g", "kind", "sex", "century"),
    [
        ("9", "resident", Sex.MALE, 1800),
        ("0", "resident", Sex.FEMALE, 1800),
        ("1", "resident", Sex.MALE, 1900),
        ("2", "resident", Sex.FEMALE, 1900),
        ("3", "resident", Sex.MALE, 2000),
        ("4", "resident", Sex.FEMALE, 2000),
        ("5", "foreigner", Sex.MALE, 1900),
        ("6", "foreigner", Sex.FEMALE, 1900),
        ("7", "foreigner", Sex.MALE, 2000),
        ("8", "foreigner", Sex.FEMALE, 2000),
    ],
)
def test_seventh_digit_table(g: str, kind: str, sex: Sex, century: int) -> None:
    nid = parse_national_id(_with_check("050505" + g + "12345", foreigner=kind == "foreigner"),
                            today=TODAY)
    assert (nid.kind, nid.sex, nid.birth_date.year) == (kind, sex, century + 5)
    assert nid.form is IdForm.CHECKSUM


# --- check digit and the two forms ---------------------------------------------------------------
def test_check_digit_known_answers() -> None:
    # Worked by hand, independently of the implementation:
    # 9,0,0,1,0,1,1,2,3,4,5,6 · 2,3,4,5,6,7,8,9,2,3,4,5 = 124; 124 % 11 = 3
    assert check_digit("900101123456", foreigner=False) == (11 - 3) % 10 == 8
    # 9,0,0,1,0,1,5,2,3,4,5,6 · weights = 156; 156 % 11 = 2
    assert check_digit("900101523456", foreigner=True) == (13 - 2) % 10 == 1
    # the wrap-arounds: 3 · 4 (11th weight) = 12, 12 % 11 = 1 → (11 - 1) % 10 = 0
    assert check_digit("000000000030", foreigner=False) == 0
    # 1·2 + 1·5 + 1·7 + 1·8 = 22, 22 % 11 = 0 → (11 - 0) % 10 = 1
    assert check_digit("100101100000", foreigner=False) == 1


def test_checksum_form_has_high_confidence() -> None:
    nid = parse_national_id(BASE, today=TODAY)
    assert nid.form is IdForm.CHECKSUM
    assert nid.confidence is Confidence.HIGH


def test_failing_check_digit_is_accepted_as_random_serial() -> None:
    wrong = BASE[:12] + str((int(BASE[12]) + 1) % 10)
    nid = parse_national_id(wrong, today=TODAY)
    assert nid.form is IdForm.RANDOM_SERIAL
    assert nid.confidence is Confidence.MEDIUM


def test_foreigner_number_uses_the_foreigner_check_rule() -> None:
    first12 = "900101" + "5" + "23456"
    good = parse_national_id(_with_check(first12, foreigner=True), today=TODAY)
    assert (good.kind, good.form) == ("foreigner", IdForm.CHECKSUM)
    # The resident rule's digit differs by 2 (mod 10), so it marks a random serial here.
    resident_rule = parse_national_id(_with_check(first12, foreigner=False), today=TODAY)
    assert resident_rule.form is IdForm.RANDOM_SERIAL


# --- never printed -------------------------------------------------------------------------------
def test_repr_and_str_show_only_the_masked_form() -> None:
    nid = parse_national_id(BASE, today=TODAY)
    masked = f"{BASE[:6]}-{BASE[6]}******"
    assert nid.masked() == masked
    assert str(nid) == masked
    assert repr(nid) == f"NationalId({masked})"
    for text in (repr(nid), str(nid), f"{nid}", f"{nid!r}", repr([nid]), repr({"id": nid})):
        # the masked form shows the birth date by design; the serial part must never show
        if BASE[6:] in text or BASE[7:] in text:
            pytest.fail("repr or str shows the serial part", pytrace=False)


def test_national_id_is_frozen() -> None:
    nid = parse_national_id(BASE, today=TODAY)
    with pytest.raises(AttributeError):
        nid.digits = "0" * 13  # type: ignore[misc]
    assert isinstance(nid, NationalId)


def test_default_today_is_the_local_date() -> None:
    # The same 2099 number is refused without an explicit `today` too.
    with pytest.raises(InvalidNationalId, match=FUTURE):
        parse_national_id(_with_check("991231" + "3" + "12345"))


# --- scanner helper ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d, True),
        (lambda d: f"{d[:6]}-{d[6:]}", True),
        (lambda d: d[:12] + str((int(d[12]) + 1) % 10), True),  # random-serial form still counts
        (lambda d: d[:12], False),
        (lambda d: "991332" + d[6:], False),  # month 13
        (lambda d: "phone 010-1234-5678", False),
    ],
    ids=["digits", "hyphen", "random-serial", "short", "bad-date", "phone-number"],
)
def test_is_valid_rrn_like(make: Callable[[str], str], expected: bool) -> None:
    assert is_valid_rrn_like(make(BASE)) is expected


# --- synthetic generation ------------------------------------------------------------------
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), birth=births, sex=st.sampled_from([1, 2]),
       foreigner=st.booleans(), post2020=st.booleans())
def test_generate_round_trips(seed: int, birth: date, sex: int, foreigner: bool,
                              post2020: bool) -> None:
    digits = generate_rrn(random.Random(seed), birth, sex, foreigner=foreigner, post2020=post2020)
    nid = parse_national_id(digits, today=TODAY)
    assert len(digits) == 13 and digits.isascii() and digits.isdigit()
    assert nid.birth_date == birth
    assert nid.sex == sex
    assert nid.kind == ("foreigner" if foreigner else "resident")
    if not post2020:
        assert nid.form is IdForm.CHECKSUM
        if not foreigner:
            assert int(digits[7:9]) <= 95  # region code range of the pre-2020 layout
        else:
            assert int(digits[7:9]) % 2 == 0 and digits[11] in "6789"


def test_post2020_numbers_usually_fail_the_checksum() -> None:
    rng = random.Random(2020)
    forms = [
        parse_national_id(generate_rrn(rng, date(2021, 5, 5), 1, post2020=True), today=TODAY).form
        for _ in range(1000)
    ]
    random_share = forms.count(IdForm.RANDOM_SERIAL) / len(forms)
    assert 0.85 < random_share < 0.95  # 9 in 10 by construction


def test_generate_is_deterministic_for_a_seed() -> None:
    a = generate_rrn(random.Random(5), date(1970, 7, 7), 2)
    b = generate_rrn(random.Random(5), date(1970, 7, 7), 2)
    _assert_same(a, b)


def test_generate_covers_the_1800s_for_residents() -> None:
    digits = generate_rrn(random.Random(1), date(1899, 12, 31), 2)
    assert digits[6] == "0"


@pytest.mark.parametrize(
    ("birth", "sex", "foreigner", "match"),
    [
        (date(1990, 1, 1), 3, False, r"3 is not a valid Sex"),
        (date(1899, 1, 1), 1, True, r"no foreigner century digit for birth year 1899"),
        (date(2100, 1, 1), 1, False, r"no resident century digit for birth year 2100"),
    ],
    ids=["sex-3", "foreigner-1800s", "year-2100"],
)
def test_generate_refuses_impossible_requests(birth: date, sex: int, foreigner: bool,
                                              match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_rrn(random.Random(0), birth, sex, foreigner=foreigner)
