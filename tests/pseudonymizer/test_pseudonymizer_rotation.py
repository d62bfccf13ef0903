"""Key rotation with a grace period, and the old → new mapping, for both schemes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pseudonymizer.errors import ExpiredPseudonym, InvalidPseudonym
from pseudonymizer.keys import FileKeyProvider, StaticKeyProvider
from pseudonymizer.pseudonyms import Pseudonymizer

CUSTOMER = "0123456789abcdef0123456789abcdef"
T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 6, 1, tzinfo=UTC)  # v2 created: v1 superseded
GRACE = timedelta(days=90)
SUBJECT = {"siv": CUSTOMER, "ff1-13": "31337"}


def _pair(scheme: str) -> tuple[Pseudonymizer, Pseudonymizer]:
    """The same keys before and after a rotation at T2."""
    before = Pseudonymizer(StaticKeyProvider({1: b"\x01" * 32}, created={1: T1}),
                           scheme=scheme, grace=GRACE)
    after = Pseudonymizer(StaticKeyProvider({1: b"\x01" * 32, 2: b"\x02" * 32},
                                            created={1: T1, 2: T2}), scheme=scheme, grace=GRACE)
    return before, after


@pytest.mark.parametrize("scheme", ["siv", "ff1-13"])
def test_old_version_resolves_within_grace_then_expires(scheme: str) -> None:
    before, after = _pair(scheme)
    subject = SUBJECT[scheme]
    old = before.pseudonym(subject, "bank")
    assert after.resolve(old, "bank", now=T2 + GRACE - timedelta(seconds=1)) == subject
    with pytest.raises(ExpiredPseudonym, match=r"expired pseudonym version `v1`"):
        after.resolve(old, "bank", now=T2 + GRACE)
    # the current version never expires
    assert after.resolve(after.pseudonym(subject, "bank"), "bank",
                         now=T2 + 100 * GRACE) == subject


@pytest.mark.parametrize("scheme", ["siv", "ff1-13"])
def test_mapping_old_to_new(scheme: str) -> None:
    before, after = _pair(scheme)
    subject = SUBJECT[scheme]
    old = before.pseudonym(subject, "bank")
    foreign = before.pseudonym(subject, "card")  # another recipient's: never mapped
    mapped = after.remap([old, foreign, "nonsense"], "bank", now=T2 + timedelta(days=1))
    assert mapped[0].old == old and mapped[0].new == after.pseudonym(subject, "bank")
    assert mapped[0].error is None
    # ff1-13 lets a foreign pseudonym through 1 time in 1000; this one is refused
    assert [(m.new, m.error) for m in mapped[1:]] == [(None, "invalid"), (None, "invalid")]
    late = after.remap([old], "bank", now=T2 + GRACE)
    assert (late[0].new, late[0].error) == (None, "expired")


def test_expiry_is_counted_from_the_successors_creation() -> None:
    keys = StaticKeyProvider({1: b"\x01" * 32, 2: b"\x02" * 32, 3: b"\x03" * 32},
                             created={1: T1, 2: T2, 3: T2 + timedelta(days=60)})
    ps = Pseudonymizer(keys, grace=GRACE)
    assert ps.expires_at(1, "bank") == T2 + GRACE
    assert ps.expires_at(2, "bank") == T2 + timedelta(days=60) + GRACE
    assert ps.expires_at(3, "bank") is None


def test_zero_grace_expires_at_once() -> None:
    _, after = _pair("siv")
    old = Pseudonymizer(StaticKeyProvider({1: b"\x01" * 32})).pseudonym(CUSTOMER, "bank")
    strict = Pseudonymizer(after._keys, grace=timedelta(0))
    with pytest.raises(ExpiredPseudonym, match=r"expired pseudonym version `v1`"):
        strict.resolve(old, "bank", now=T2)


def test_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError, match=r"grace period must not be negative"):
        Pseudonymizer(StaticKeyProvider(bytes(32)), grace=timedelta(days=-1))


def test_file_provider_dates_versions_by_their_files(tmp_path: Path) -> None:
    keys = FileKeyProvider.create(tmp_path / "secrets")
    ps = Pseudonymizer(keys, grace=GRACE)
    old = ps.pseudonym(CUSTOMER, "bank")
    keys.rotate()
    rotated = keys.path / "master-v2.key"
    created = T2.timestamp()
    os.utime(rotated, (created, created))
    keys.reload()
    assert keys.created_at("pseudonym:bank", 2) == T2
    assert ps.resolve(old, "bank", now=T2 + timedelta(days=89)) == CUSTOMER
    with pytest.raises(ExpiredPseudonym, match=r"expired pseudonym version `v1`"):
        ps.resolve(old, "bank", now=T2 + timedelta(days=91))


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(Exception, match=r"unknown pseudonym scheme `md5` \(known: `siv`, "):
        Pseudonymizer(StaticKeyProvider(bytes(32)), scheme="md5")


def test_expired_is_an_invalid_pseudonym() -> None:
    # callers that only know `InvalidPseudonym` still refuse an expired one
    assert issubclass(ExpiredPseudonym, InvalidPseudonym)
