"""Tests for per-recipient pseudonyms: stable, unlinkable, reversible by the gateway only."""

from __future__ import annotations

import base64
import re
import secrets as stdlib_secrets
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymizer.errors import InvalidCustomerKey, InvalidPseudonym
from pseudonymizer.keys import FileKeyProvider, StaticKeyProvider
from pseudonymizer.pseudonyms import Pseudonymizer
from pseudonymizer.schemes.siv import _b32, _b32_rows

CUSTOMER = "0123456789abcdef0123456789abcdef"
OTHER = "00000000000000000000000000000001"
SHAPE = re.compile(r"p1_[a-z2-7]{52}")


@pytest.fixture
def keys(tmp_path: Path) -> FileKeyProvider:
    return FileKeyProvider.create(tmp_path / "secrets")


@pytest.fixture
def ps(keys: FileKeyProvider) -> Pseudonymizer:
    return Pseudonymizer(keys)


def test_shape(ps: Pseudonymizer) -> None:
    assert SHAPE.fullmatch(ps.pseudonym(CUSTOMER, "bank"))


def test_stable_across_calls_and_instances(ps: Pseudonymizer, keys: FileKeyProvider) -> None:
    first = ps.pseudonym(CUSTOMER, "bank")
    assert ps.pseudonym(CUSTOMER, "bank") == first
    assert Pseudonymizer(FileKeyProvider(keys.path)).pseudonym(CUSTOMER, "bank") == first


def test_recipients_get_unrelated_pseudonyms(ps: Pseudonymizer) -> None:
    recipients = ["bank", "card", "securities", "insurance"]
    issued = {ps.pseudonym(CUSTOMER, r) for r in recipients}
    assert len(issued) == len(recipients)


def test_customers_get_distinct_pseudonyms(ps: Pseudonymizer) -> None:
    assert ps.pseudonym(CUSTOMER, "bank") != ps.pseudonym(OTHER, "bank")


def test_resolve_round_trip(ps: Pseudonymizer) -> None:
    assert ps.resolve(ps.pseudonym(CUSTOMER, "card"), "card") == CUSTOMER


def test_another_recipients_pseudonym_does_not_resolve(ps: Pseudonymizer) -> None:
    issued_to_card = ps.pseudonym(CUSTOMER, "card")
    with pytest.raises(InvalidPseudonym, match=r"does not authenticate for recipient `bank`"):
        ps.resolve(issued_to_card, "bank")


def test_another_gateways_pseudonym_does_not_resolve(ps: Pseudonymizer) -> None:
    foreign = Pseudonymizer(StaticKeyProvider(stdlib_secrets.token_bytes(32)))
    with pytest.raises(InvalidPseudonym, match=r"does not authenticate for recipient `bank`"):
        ps.resolve(foreign.pseudonym(CUSTOMER, "bank"), "bank")


@settings(max_examples=200, deadline=None)
@given(position=st.integers(3, 54), replacement=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
def test_any_single_character_change_is_refused(position: int, replacement: str) -> None:
    ps = Pseudonymizer(StaticKeyProvider(b"\x07" * 32))
    issued = ps.pseudonym(CUSTOMER, "bank")
    tampered = issued[:position] + replacement + issued[position + 1 :]
    if tampered == issued:
        return
    with pytest.raises(InvalidPseudonym, match=r"does not authenticate|non-canonical base32"):
        ps.resolve(tampered, "bank")


@settings(max_examples=100, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), recipient=st.text(min_size=1, max_size=40).filter(
    lambda r: "\x00" not in r))
def test_round_trip_for_any_customer_and_recipient(key: bytes, recipient: str) -> None:
    ps = Pseudonymizer(StaticKeyProvider(b"\x09" * 32))
    assert ps.resolve(ps.pseudonym(key.hex(), recipient), recipient) == key.hex()


def _valid() -> str:
    return Pseudonymizer(StaticKeyProvider(b"\x05" * 32)).pseudonym(CUSTOMER, "bank")


MALFORMED = [
    ("empty", "", r"malformed: expected `p<version>_<base32>`"),
    ("prefix-only", "p1_", r"malformed"),
    ("no-version", "p_" + _valid()[3:], r"malformed"),
    ("version-zero", "p0_" + _valid()[3:], r"malformed"),
    # one pseudonym, one spelling: a leading zero would be a second spelling of v1
    ("leading-zero-version", "p01_" + _valid()[3:], r"malformed"),
    ("uppercase", _valid().upper(), r"malformed"),
    ("padded", _valid() + "====", r"malformed"),
    ("too-short", _valid()[:-1], r"malformed"),
    ("too-long", _valid() + "a", r"malformed"),
    ("not-base32-digit", _valid()[:-1] + "1", r"malformed"),
    ("whitespace", " " + _valid(), r"malformed"),
]


@pytest.mark.parametrize(("text", "match"), [(t, m) for _, t, m in MALFORMED],
                         ids=[i for i, _, _ in MALFORMED])
def test_malformed_pseudonyms_are_refused(text: str, match: str) -> None:
    ps = Pseudonymizer(StaticKeyProvider(b"\x05" * 32))
    with pytest.raises(InvalidPseudonym, match=match):
        ps.resolve(text, "bank")


def test_non_canonical_spelling_is_refused() -> None:
    ps = Pseudonymizer(StaticKeyProvider(b"\x05" * 32))
    issued = ps.pseudonym(CUSTOMER, "bank")
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    last = alphabet.index(issued[-1])
    assert last % 16 == 0  # the 4 spare bits are zero in the canonical spelling
    respelled = issued[:-1] + alphabet[last + 1]  # same 32 bytes, a spare bit set
    with pytest.raises(InvalidPseudonym, match=r"non-canonical base32"):
        ps.resolve(respelled, "bank")


def test_unknown_version_is_refused(ps: Pseudonymizer) -> None:
    issued = ps.pseudonym(CUSTOMER, "bank")
    with pytest.raises(InvalidPseudonym, match=r"pseudonym key version `v7` is unknown"):
        ps.resolve("p7_" + issued[3:], "bank")


def test_rotation_issues_new_pseudonyms_and_old_ones_still_resolve(
    ps: Pseudonymizer, keys: FileKeyProvider
) -> None:
    old = ps.pseudonym(CUSTOMER, "bank")
    keys.rotate()
    new = ps.pseudonym(CUSTOMER, "bank")
    assert new.startswith("p2_") and new != old
    assert ps.resolve(old, "bank") == CUSTOMER
    assert ps.resolve(new, "bank") == CUSTOMER
    assert ps.pseudonym(CUSTOMER, "bank", version=1) == old
    # a v1 body relabelled as v2 does not authenticate under the v2 key
    with pytest.raises(InvalidPseudonym, match=r"does not authenticate"):
        ps.resolve("p2_" + old[3:], "bank")


def test_a_second_process_resolves_pseudonyms_of_a_rotation_it_has_not_loaded(
    keys: FileKeyProvider,
) -> None:
    stale = Pseudonymizer(FileKeyProvider(keys.path))
    keys.rotate()
    fresh = Pseudonymizer(keys).pseudonym(CUSTOMER, "bank")
    assert stale.resolve(fresh, "bank") == CUSTOMER


@pytest.mark.parametrize(
    "customer_key",
    ["", CUSTOMER.upper(), CUSTOMER[:-1], CUSTOMER + "0", "g" * 32,
     f"{CUSTOMER[:8]}-{CUSTOMER[8:]}"],
    ids=["empty", "uppercase", "31-chars", "33-chars", "not-hex", "hyphenated"],
)
def test_customer_key_must_be_32_lowercase_hex(ps: Pseudonymizer, customer_key: str) -> None:
    with pytest.raises(InvalidCustomerKey, match=r"customer key must be 32 lowercase hex"):
        ps.pseudonym(customer_key, "bank")


@pytest.mark.parametrize("recipient", ["", "ba\x00nk"], ids=["empty", "nul"])
def test_recipient_must_be_a_plain_id(ps: Pseudonymizer, recipient: str) -> None:
    with pytest.raises(InvalidPseudonym, match=r"recipient must be a non-empty id"):
        ps.pseudonym(CUSTOMER, recipient)
    with pytest.raises(InvalidPseudonym, match=r"recipient must be a non-empty id"):
        ps.resolve(_valid(), recipient)


def test_many_pseudonyms_are_cheap() -> None:
    # not a benchmark: a guard against losing the cipher cache (HKDF + key schedule per call)
    ps = Pseudonymizer(StaticKeyProvider(b"\x03" * 32))
    keys = [f"{i:032x}" for i in range(5000)]
    for key in keys:
        assert ps.resolve(ps.pseudonym(key, "bank"), "bank") == key


@settings(max_examples=30, deadline=None)
@given(count=st.integers(1, 70), recipient=st.sampled_from(["bank", "card", "보험", "x" * 40]))
def test_batch_issue_is_byte_for_byte_aes_siv(count: int, recipient: str) -> None:
    # the vectorized S2V + CTR (`schemes/siv_batch.py`) against `cryptography`'s AESSIV
    ps = Pseudonymizer(StaticKeyProvider(b"\x0b" * 32))
    keys = [stdlib_secrets.token_hex(16) for _ in range(count)]
    batch = ps.pseudonyms(keys, recipient)
    assert batch == [ps.pseudonym(k, recipient) for k in keys]
    assert [ps.resolve(p, recipient) for p in batch] == keys


def test_batch_refuses_a_bad_customer_key_anywhere(ps: Pseudonymizer) -> None:
    keys = [f"{i:032x}" for i in range(20)]
    keys[13] = keys[13].upper().replace("0", "G")
    with pytest.raises(InvalidCustomerKey, match=r"customer key must be 32 lowercase hex"):
        ps.pseudonyms(keys, "bank")


@settings(max_examples=200, deadline=None)
@given(sealed=st.binary(min_size=32, max_size=32))
def test_fast_base32_is_rfc4648(sealed: bytes) -> None:
    expected = base64.b32encode(sealed).decode("ascii").rstrip("=").lower()
    assert _b32(sealed) == expected
    assert _b32_rows(np.frombuffer(sealed * 3, dtype=np.uint8).reshape(3, 32)) == expected * 3


def test_recipients_pseudonyms_share_no_structure() -> None:
    # unlinkable without the keys: bank's and card's pseudonyms of the same customers differ
    # in about half their bits (independent random strings), and none shares a prefix
    ps = Pseudonymizer(StaticKeyProvider(b"\x0c" * 32))
    keys = [f"{i:032x}" for i in range(400)]  # deliberately structured customer keys
    bank, card = ps.pseudonyms(keys, "bank"), ps.pseudonyms(keys, "card")

    def raw(p: str) -> int:
        return int.from_bytes(base64.b32decode(p[3:].upper() + "===="), "big")

    differing = sum((raw(b) ^ raw(c)).bit_count() for b, c in zip(bank, card, strict=True))
    assert 0.47 < differing / (256 * len(keys)) < 0.53
    assert len({p[3:11] for p in bank + card}) == 2 * len(keys)  # no shared 40-bit prefix
