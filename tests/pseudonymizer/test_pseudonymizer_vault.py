"""Tests for the RRN vault: AES-256-GCM at rest, bound to the row, and the blind index."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from pseudonymizer.errors import InvalidCiphertext, InvalidNationalId
from pseudonymizer.keys import FileKeyProvider, StaticKeyProvider
from pseudonymizer.rrn import generate_rrn
from pseudonymizer.vault import RrnVault

CUSTOMER = "0123456789abcdef0123456789abcdef"
OTHER_CUSTOMER = "fedcba9876543210fedcba9876543210"
RNG = random.Random(24)
ALICE = generate_rrn(RNG, date(1988, 8, 8), 2)  # synthetic
BOB = generate_rrn(RNG, date(1991, 1, 31), 1, post2020=True)  # synthetic


def _assert_same(got: str, want: str) -> None:
    if got != want:
        pytest.fail("decrypted digits differ from the original", pytrace=False)


@pytest.fixture
def keys(tmp_path: Path) -> FileKeyProvider:
    return FileKeyProvider.create(tmp_path / "secrets")


@pytest.fixture
def vault(keys: FileKeyProvider) -> RrnVault:
    return RrnVault(keys)


def test_round_trip(vault: RrnVault) -> None:
    blob = vault.encrypt(ALICE, CUSTOMER)
    _assert_same(vault.decrypt(blob, CUSTOMER), ALICE)
    # format byte, key version, 12-byte nonce, 13 bytes of ciphertext, 16-byte tag
    assert len(blob) == 1 + 4 + 12 + 13 + 16
    assert blob[:5] == b"\x01\x00\x00\x00\x01"
    assert ALICE.encode() not in blob


def test_encryption_is_randomized(vault: RrnVault) -> None:
    a, b = vault.encrypt(ALICE, CUSTOMER), vault.encrypt(ALICE, CUSTOMER)
    assert a != b
    _assert_same(vault.decrypt(b, CUSTOMER), vault.decrypt(a, CUSTOMER))


def test_ciphertext_is_bound_to_its_customer_key(vault: RrnVault) -> None:
    blob = vault.encrypt(ALICE, CUSTOMER)
    with pytest.raises(InvalidCiphertext, match=r"does not authenticate for this customer key"):
        vault.decrypt(blob, OTHER_CUSTOMER)


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), r"does not authenticate"),  # tag bit
        (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], r"does not authenticate"),  # ciphertext
        (lambda b: b[:5] + bytes([b[5] ^ 1]) + b[6:], r"does not authenticate"),  # nonce
        (lambda b: b"\x02" + b[1:], r"ciphertext format `2` is unknown"),
        (lambda b: b[:1] + b"\x00\x00\x00\x07" + b[5:], r"key version `v7` is unknown"),
        (lambda b: b[:40], r"does not authenticate"),  # truncated, still long enough
        (lambda b: b[:16], r"rrn ciphertext is too short"),
        (lambda b: b"", r"rrn ciphertext is too short"),
    ],
    ids=["tag", "ciphertext", "nonce", "format", "unknown-version", "truncated", "short", "empty"],
)
def test_tampered_blobs_are_refused(vault: RrnVault, tamper: Callable[[bytes], bytes],
                                    match: str) -> None:
    with pytest.raises(InvalidCiphertext, match=match):
        vault.decrypt(tamper(vault.encrypt(ALICE, CUSTOMER)), CUSTOMER)


def test_relabelled_key_version_does_not_decrypt(keys: FileKeyProvider) -> None:
    vault = RrnVault(keys)
    blob = vault.encrypt(ALICE, CUSTOMER)
    keys.rotate()
    relabelled = blob[:1] + (2).to_bytes(4, "big") + blob[5:]
    with pytest.raises(InvalidCiphertext, match=r"does not authenticate"):
        vault.decrypt(relabelled, CUSTOMER)


def test_rotation_encrypts_under_the_new_version_and_reads_the_old(keys: FileKeyProvider) -> None:
    vault = RrnVault(keys)
    old = vault.encrypt(ALICE, CUSTOMER)
    index_before = vault.blind_index(ALICE)
    keys.rotate()
    new = vault.encrypt(ALICE, CUSTOMER)
    assert new[1:5] == (2).to_bytes(4, "big")
    _assert_same(vault.decrypt(old, CUSTOMER), ALICE)
    _assert_same(vault.decrypt(new, CUSTOMER), ALICE)
    # the blind index is pinned: a UNIQUE column must survive rotation
    assert vault.blind_index(ALICE) == index_before
    assert RrnVault(FileKeyProvider(keys.path)).blind_index(ALICE) == index_before


def test_blind_index_is_deterministic_keyed_and_distinct(
    vault: RrnVault, keys: FileKeyProvider
) -> None:
    index = vault.blind_index(ALICE)
    assert len(index) == 32
    assert index == vault.blind_index(ALICE) == RrnVault(keys).blind_index(ALICE)
    assert index != vault.blind_index(BOB)
    assert index != RrnVault(StaticKeyProvider(bytes(32))).blind_index(ALICE)  # keyed


def test_blind_index_and_encryption_use_separate_keys(keys: FileKeyProvider) -> None:
    assert keys.key("rrn-blind-index") != keys.key("rrn-encryption")


@pytest.mark.parametrize(
    "make",
    [
        lambda d: f"{d[:6]}-{d[6:]}",  # hyphenated: must be normalized by parse_national_id first
        lambda d: d[:12],
        lambda d: "\uff10" + d[1:],  # a full-width digit
        lambda d: "\u0660" + d[1:],  # an Arabic-Indic digit (str.isdigit() says yes)
    ],
    ids=["hyphenated", "short", "full-width", "arabic-indic"],
)
def test_only_canonical_digits_are_accepted(vault: RrnVault, make: Callable[[str], str]) -> None:
    text = make(ALICE)
    with pytest.raises(InvalidNationalId, match=r"vault expects the 13 canonical digits") as info:
        vault.blind_index(text)
    leaked = ALICE[6:] in str(info.value)
    assert not leaked
    with pytest.raises(InvalidNationalId, match=r"vault expects the 13 canonical digits"):
        vault.encrypt(text, CUSTOMER)
