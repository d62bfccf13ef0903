"""Tests for the file and static key providers (real key files in tmp_path)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from pseudonymizer.errors import KeyLoadError, UnknownKeyVersion
from pseudonymizer.keys import FileKeyProvider, KeyProvider, StaticKeyProvider, derive_subkey

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are posix")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _master(path: Path, version: int) -> bytes:
    return base64.b64decode((path / f"master-v{version}.key").read_text())


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return tmp_path / "data" / "secrets"


def test_create_generates_v1_with_private_modes(secrets: Path) -> None:
    kp = FileKeyProvider.create(secrets)
    assert sorted(p.name for p in secrets.iterdir()) == ["master-v1.key"]  # no temp file left
    assert len(_master(secrets, 1)) == 32
    assert kp.current_version("anything") == 1
    if os.name == "posix":
        assert _mode(secrets / "master-v1.key") == 0o600
        assert _mode(secrets) == 0o700


def test_create_is_idempotent_and_reopen_sees_the_same_key(secrets: Path) -> None:
    first = FileKeyProvider.create(secrets)
    again = FileKeyProvider.create(secrets)
    reopened = FileKeyProvider(secrets)
    assert first.key("p") == again.key("p") == reopened.key("p")
    assert sorted(p.name for p in secrets.iterdir()) == ["master-v1.key"]


def test_subkeys_are_32_bytes_and_separated_by_purpose_and_version(secrets: Path) -> None:
    kp = FileKeyProvider.create(secrets)
    kp.rotate()
    keys = {kp.key(purpose, v) for purpose in ("a", "b", "pseudonym:bank") for v in (1, 2)}
    assert len(keys) == 6
    assert all(len(k) == 32 for k in keys)
    assert kp.key("a") == kp.key("a", 2)  # None means current


def test_file_and_static_providers_derive_identically(secrets: Path) -> None:
    kp = FileKeyProvider.create(secrets)
    static = StaticKeyProvider(_master(secrets, 1))
    assert kp.key("rrn-blind-index", 1) == static.key("rrn-blind-index", 1)
    assert kp.key("x", 1) == derive_subkey(_master(secrets, 1), "x", 1)


def test_subkey_is_not_the_master(secrets: Path) -> None:
    kp = FileKeyProvider.create(secrets)
    assert kp.key("x") != _master(secrets, 1)


def test_rotate_adds_a_version_and_keeps_the_old_one(secrets: Path) -> None:
    kp = FileKeyProvider.create(secrets)
    old = kp.key("p")
    assert kp.rotate() == 2
    assert kp.current_version("p") == 2
    assert kp.key("p", 1) == old
    assert kp.key("p") != old
    assert kp.rotate() == 3
    assert sorted(p.name for p in secrets.iterdir()) == [
        "master-v1.key", "master-v2.key", "master-v3.key"
    ]
    if os.name == "posix":
        assert _mode(secrets / "master-v3.key") == 0o600
    assert FileKeyProvider(secrets).current_version("p") == 3


def test_a_rotation_by_another_process_is_picked_up_on_demand(secrets: Path) -> None:
    ours = FileKeyProvider.create(secrets)
    theirs = FileKeyProvider(secrets)
    theirs.rotate()
    assert ours.current_version("p") == 1  # until reloaded …
    assert ours.key("p", 2) == theirs.key("p", 2)  # … but an explicit v2 is found
    assert ours.current_version("p") == 2


def test_unknown_versions_trigger_at_most_one_rescan_per_second(secrets: Path) -> None:
    ours = FileKeyProvider.create(secrets)
    with pytest.raises(UnknownKeyVersion, match=r"master key `v5` is unknown"):
        ours.key("p", 5)  # rescans, still unknown
    FileKeyProvider(secrets).rotate()
    with pytest.raises(UnknownKeyVersion, match=r"master key `v2` is unknown"):
        ours.key("p", 2)  # within the second: no rescan yet
    ours.reload()
    assert ours.current_version("p") == 2


def test_providers_satisfy_the_protocol(secrets: Path) -> None:
    assert isinstance(FileKeyProvider.create(secrets), KeyProvider)
    assert isinstance(StaticKeyProvider(bytes(32)), KeyProvider)


def test_static_provider_with_several_versions() -> None:
    kp = StaticKeyProvider({1: b"\x01" * 32, 2: b"\x02" * 32})
    assert kp.current_version("x") == 2
    assert kp.key("x", 1) == StaticKeyProvider(b"\x01" * 32).key("x")


# --- errors --------------------------------------------------------------------------------
def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match=r"key directory `.*nowhere` does not exist"):
        FileKeyProvider(tmp_path / "nowhere")


def test_directory_without_keys(tmp_path: Path) -> None:
    (tmp_path / "master-v0.key").write_text("ignored: version 0 is not a key name")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(KeyLoadError, match=r"no `master-v<N>.key` file in"):
        FileKeyProvider(tmp_path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("not base64 at all!", r"key file `master-v1.key` is not base64"),
        (base64.b64encode(bytes(16)).decode(), r"must hold 32 bytes, got 16"),
        ("", r"must hold 32 bytes, got 0"),
        ("\u00e9t\u00e9", r"is not base64"),  # not even ascii
    ],
    ids=["garbage", "short-key", "empty-file", "non-ascii"],
)
def test_malformed_key_file(tmp_path: Path, content: str, match: str) -> None:
    key = tmp_path / "master-v1.key"
    key.write_text(content, encoding="utf-8")
    key.chmod(0o600)
    with pytest.raises(KeyLoadError, match=match) as info:
        FileKeyProvider(tmp_path)
    assert content.strip() == "" or content not in str(info.value)  # never echo key material


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o606, 0o660], ids=oct)
def test_key_file_readable_by_others_is_refused(secrets: Path, mode: int) -> None:
    FileKeyProvider.create(secrets)
    (secrets / "master-v1.key").chmod(mode)
    with pytest.raises(KeyLoadError, match=r"by group or others \(mode 0\d{3}\): set it to 0600"):
        FileKeyProvider(secrets)


def test_unknown_version(secrets: Path) -> None:
    kp = FileKeyProvider.create(secrets)
    with pytest.raises(UnknownKeyVersion, match=r"master key `v9` is unknown"):
        kp.key("p", 9)
    with pytest.raises(UnknownKeyVersion, match=r"master key `v2` is unknown"):
        StaticKeyProvider(bytes(32)).key("p", 2)


@pytest.mark.parametrize(
    ("masters", "match"),
    [
        (bytes(31), r"master key `v1` must be 32 bytes, got 31"),
        ({0: bytes(32)}, r"master key version must be 1 or more, got 0"),
        ({}, r"no master key is loaded"),
    ],
    ids=["short", "version-0", "empty"],
)
def test_static_provider_refuses_bad_masters(masters: bytes | dict[int, bytes], match: str) -> None:
    with pytest.raises(KeyLoadError, match=match):
        StaticKeyProvider(masters).current_version("p")


@pytest.mark.parametrize("purpose", ["", "a\x00b"], ids=["empty", "nul"])
def test_purpose_must_be_unambiguous(purpose: str) -> None:
    with pytest.raises(ValueError, match=r"key purpose must be non-empty and contain no nul"):
        StaticKeyProvider(bytes(32)).key(purpose)


def test_create_where_a_file_blocks_the_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "secrets"
    blocker.write_text("")
    with pytest.raises(KeyLoadError, match=r"cannot create key directory `.*secrets`"):
        FileKeyProvider.create(blocker)
