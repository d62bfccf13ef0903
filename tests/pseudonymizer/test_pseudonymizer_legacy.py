"""The `ff1-13` legacy scheme: 13 digits, reversible, per recipient, never a valid RRN."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymizer.errors import InvalidCustomerKey, InvalidNationalId, InvalidPseudonym
from pseudonymizer.fpe import FF1, FpeError
from pseudonymizer.fpe.ff1_batch import ff1_decimal_batch
from pseudonymizer.keys import StaticKeyProvider
from pseudonymizer.pseudonyms import Pseudonymizer
from pseudonymizer.rrn import is_valid_rrn_like, parse_national_id
from pseudonymizer.schemes.ff1_13 import CUSTOMER_NUMBER_LIMIT

SHAPE = re.compile(r"[0-9]{2}[2-9][0-9]{10}")
numbers = st.integers(0, CUSTOMER_NUMBER_LIMIT - 1).map(str)


@pytest.fixture(scope="module")
def ps() -> Pseudonymizer:
    return Pseudonymizer(StaticKeyProvider(b"\x11" * 32), scheme="ff1-13")


@settings(max_examples=300, deadline=None)
@given(number=numbers, version=st.integers(1, 20))
def test_never_a_valid_national_id(number: str, version: int) -> None:
    keys = StaticKeyProvider({v: bytes([v]) * 32 for v in range(1, 21)})
    issued = Pseudonymizer(keys, scheme="ff1-13").pseudonym(number, "card", version=version)
    assert SHAPE.fullmatch(issued)
    assert not is_valid_rrn_like(issued)
    for notation in (issued, f"{issued[:6]}-{issued[6:]}", f"{issued[:6]} - {issued[6:]}"):
        with pytest.raises(InvalidNationalId, match=r"birth date .* is not a real date"):
            parse_national_id(notation)


@settings(max_examples=100, deadline=None)
@given(customer=numbers)
def test_round_trip(ps: Pseudonymizer, customer: str) -> None:
    assert ps.resolve(ps.pseudonym(customer, "card"), "card") == customer


def test_stable_and_per_recipient(ps: Pseudonymizer) -> None:
    first = ps.pseudonym("12345678", "card")
    assert ps.pseudonym("12345678", "card") == first
    others = {ps.pseudonym("12345678", r) for r in ("bank", "securities", "insurance")}
    assert first not in others and len(others) == 3


def test_batch_is_the_same_as_one_by_one(ps: Pseudonymizer) -> None:
    subjects = [str(n) for n in range(0, 3_000_000, 997)]
    assert ps.pseudonyms(subjects, "bank") == [ps.pseudonym(s, "bank") for s in subjects[:50]] + \
        ps.pseudonyms(subjects[50:], "bank")
    singles = [ps.pseudonym(s, "bank") for s in subjects[::300]]
    assert singles == ps.pseudonyms(subjects[::300], "bank")


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.integers(0, 10**12 - 1), min_size=1, max_size=20),
       length=st.integers(6, 18))
def test_vectorized_ff1_equals_the_reference(values: list[int], length: int) -> None:
    ff1 = FF1(b"\x42" * 32, 10)
    values = [x % 10**length for x in values]
    batch = ff1_decimal_batch(ff1, np.array(values, dtype=np.uint64), length).tolist()
    assert batch == [int(ff1.encrypt(f"{x:0{length}d}")) for x in values]
    back = ff1_decimal_batch(ff1, np.array(batch, dtype=np.uint64), length, decrypt=True)
    assert back.tolist() == values


def test_vectorized_ff1_refuses_what_it_cannot_do() -> None:
    with pytest.raises(FpeError, match=r"radix 10 and lengths 6 to 18"):
        ff1_decimal_batch(FF1(b"\x42" * 32, 10), np.array([1], dtype=np.uint64), 19)


def test_another_recipients_pseudonym_is_refused_almost_always(ps: Pseudonymizer) -> None:
    refused = 0
    for n in range(200):
        try:
            ps.resolve(ps.pseudonym(str(n), "card"), "bank")
        except InvalidPseudonym as exc:
            assert "not issued to recipient `bank`" in str(exc)
            refused += 1
    assert refused >= 195  # the 3-digit redundancy lets 1 in 1000 through


def test_rotation_names_the_version_in_the_marker() -> None:
    keys = StaticKeyProvider({1: b"\x01" * 32})
    old = Pseudonymizer(keys, scheme="ff1-13").pseudonym("42", "bank")
    rotated = StaticKeyProvider({1: b"\x01" * 32, 2: b"\x02" * 32})
    ps = Pseudonymizer(rotated, scheme="ff1-13")
    new = ps.pseudonym("42", "bank")
    assert old[2] == "2" and new[2] == "3" and old != new
    assert ps.resolve(old, "bank") == ps.resolve(new, "bank") == "42"


def test_marker_wraps_after_eight_versions() -> None:
    keys = StaticKeyProvider({v: bytes([v]) * 32 for v in range(1, 10)})
    ps = Pseudonymizer(keys, scheme="ff1-13")
    assert ps.pseudonym("7", "bank", version=9)[2] == ps.pseudonym("7", "bank", version=1)[2]
    assert ps.resolve(ps.pseudonym("7", "bank"), "bank") == "7"


@pytest.mark.parametrize(("text", "match"), [
    ("123456789012", r"expected 13 digits"),
    ("1212345678901", r"key marker 2-9"),  # marker 1: would be a real month 10-19
    ("12a4567890123", r"expected 13 digits"),
    ("12945678901234", r"expected 13 digits"),
], ids=["12-digits", "marker-1", "letter", "14-digits"])
def test_malformed_is_refused(ps: Pseudonymizer, text: str, match: str) -> None:
    with pytest.raises(InvalidPseudonym, match=match):
        ps.resolve(text, "bank")


def test_marker_of_a_future_version_is_refused(ps: Pseudonymizer) -> None:
    with pytest.raises(InvalidPseudonym, match=r"key marker `5` names no key version"):
        ps.resolve("1254567890123", "bank")


@pytest.mark.parametrize("subject", ["", "01", "1000000000", "12a", "-1"])
def test_customer_number_must_be_canonical(ps: Pseudonymizer, subject: str) -> None:
    with pytest.raises(InvalidCustomerKey, match=r"1-9 decimal digits without leading zeros"):
        ps.pseudonym(subject, "bank")
