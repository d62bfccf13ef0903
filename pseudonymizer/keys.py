"""Master keys and the per-purpose subkeys derived from them (HKDF-SHA256, RFC 5869).

A `KeyProvider` is what a KMS or HSM would implement: it hands out a 32-byte subkey for a
purpose and a key version, and says which version is current. `FileKeyProvider` keeps
versioned master keys as files (`master-v<N>.key`, base64 of 32 random bytes, mode 0600);
`StaticKeyProvider` holds them in memory for tests and benchmarks.

Each version also has a creation time: pseudonyms of a superseded version stay valid for a
grace period counted from the creation of the version that replaced it (`pseudonyms.py`).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pseudonymizer.errors import KeyLoadError, UnknownKeyVersion

__all__ = ["FileKeyProvider", "KeyProvider", "StaticKeyProvider", "derive_subkey"]

KEY_BYTES = 32
_KEY_FILE = re.compile(r"master-v([1-9][0-9]*)\.key")
_HKDF_SALT = b"pseudonymizer/hkdf/v1"  # domain separation; the master is already uniform


@runtime_checkable
class KeyProvider(Protocol):
    def key(self, purpose: str, version: int | None = None) -> bytes:
        """The 32-byte subkey for `purpose` at `version` (None: the current version)."""
        ...

    def current_version(self, purpose: str) -> int:
        """The version new material for `purpose` is made with."""
        ...

    def created_at(self, purpose: str, version: int) -> datetime:
        """When `version` was created (aware, UTC); `UnknownKeyVersion` if it is not held."""
        ...


def derive_subkey(master: bytes, purpose: str, version: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) of `master` with info = purpose, NUL, version (4 bytes, BE).

    The NUL and the fixed-width version make the info unambiguous: no two (purpose, version)
    pairs share one.
    """
    if not purpose or "\x00" in purpose:
        raise ValueError("key purpose must be non-empty and contain no nul character")
    info = purpose.encode("utf-8") + b"\x00" + version.to_bytes(4, "big")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_HKDF_SALT, info=info)
    return hkdf.derive(master)


class _MasterKeys:
    """Versioned master keys with a cache of derived subkeys (shared by both providers)."""

    def __init__(self, masters: Mapping[int, bytes], created: Mapping[int, datetime]) -> None:
        self._lock = threading.Lock()
        self._masters: dict[int, bytes] = {}
        self._created: dict[int, datetime] = {}
        self._subkeys: dict[tuple[str, int], bytes] = {}
        self._set(masters, created)

    def created_at(self, purpose: str, version: int) -> datetime:
        created = self._created.get(version)
        if created is None:
            raise UnknownKeyVersion(f"master key `v{version}` is unknown")
        return created

    def _set(self, masters: Mapping[int, bytes], created: Mapping[int, datetime]) -> None:
        for version, master in masters.items():
            if version < 1:
                raise KeyLoadError(f"master key version must be 1 or more, got {version}")
            if len(master) != KEY_BYTES:
                raise KeyLoadError(
                    f"master key `v{version}` must be {KEY_BYTES} bytes, got {len(master)}"
                )
            when = created.get(version)
            if when is None or when.tzinfo is None:
                raise KeyLoadError(f"master key `v{version}` needs an aware creation time")
        with self._lock:
            self._masters = dict(masters)
            self._created = {v: created[v].astimezone(UTC) for v in masters}

    def _current(self) -> int:
        if not self._masters:
            raise KeyLoadError("no master key is loaded")
        return max(self._masters)

    def _derive(self, purpose: str, version: int | None) -> bytes:
        v = self._current() if version is None else version
        cached = self._subkeys.get((purpose, v))
        if cached is not None:
            return cached
        master = self._masters.get(v)
        if master is None:
            raise UnknownKeyVersion(f"master key `v{v}` is unknown")
        subkey = derive_subkey(master, purpose, v)
        with self._lock:
            self._subkeys[(purpose, v)] = subkey
        return subkey


class StaticKeyProvider(_MasterKeys):
    """Master keys held in memory: one key (version 1) or a {version: key} mapping.

    For tests and benchmarks; a deployment keeps its master keys in files or a KMS. Creation
    times default to the moment the provider is built.
    """

    def __init__(self, master: bytes | Mapping[int, bytes], *,
                 created: Mapping[int, datetime] | None = None) -> None:
        masters = {1: master} if isinstance(master, bytes) else dict(master)
        now = datetime.now(UTC)
        super().__init__(masters, {v: (created or {}).get(v, now) for v in masters})

    def key(self, purpose: str, version: int | None = None) -> bytes:
        return self._derive(purpose, version)

    def current_version(self, purpose: str) -> int:
        return self._current()


class FileKeyProvider(_MasterKeys):
    """Master keys in a directory: `master-v<N>.key`, base64 of 32 random bytes, mode 0600.

    The current version is the highest N, for every purpose. A key file readable or writable
    by group or others is refused, as OpenSSH refuses an unprotected private key. A version's
    creation time is its file's modification time: key files are written once, atomically,
    and never modified (copy them with `cp -p` / `rsync -t` so that restoring a backup keeps
    the grace periods of superseded versions).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._scanned = float("-inf")  # monotonic time of the last on-demand re-read
        super().__init__(*self._read_all())

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> FileKeyProvider:
        """Open `path`, first generating `master-v1.key` (and the directory) if it has no key.

        Idempotent: an existing key set is opened as it is, never overwritten.
        """
        directory = Path(path)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyLoadError(
                f"cannot create key directory `{directory}`: {exc.strerror}"
            ) from exc
        if not _key_files(directory):
            _write_new_key(directory, 1, tolerate_existing=True)
        return cls(directory)

    def key(self, purpose: str, version: int | None = None) -> bytes:
        try:
            return self._derive(purpose, version)
        except UnknownKeyVersion:
            # Another process may have rotated since we loaded: look again, but at most once a
            # second, so forged version numbers cannot turn every request into a disk scan.
            now = time.monotonic()
            if version is None or version < self._current() or now - self._scanned < 1.0:
                raise
            self._scanned = now
            self.reload()
            return self._derive(purpose, version)

    def current_version(self, purpose: str) -> int:
        return self._current()

    def rotate(self) -> int:
        """Add master key v<N+1> and make it current; returns the new version."""
        self.reload()
        version = self._current() + 1
        _write_new_key(self.path, version, tolerate_existing=False)
        self.reload()
        return version

    def reload(self) -> None:
        """Re-read the directory (picks up a rotation made by another process)."""
        self._set(*self._read_all())

    def _read_all(self) -> tuple[dict[int, bytes], dict[int, datetime]]:
        if not self.path.is_dir():
            raise KeyLoadError(f"key directory `{self.path}` does not exist")
        files = _key_files(self.path)
        if not files:
            raise KeyLoadError(f"no `master-v<N>.key` file in `{self.path}`")
        masters = {version: _read_key(file) for version, file in files.items()}
        return masters, {version: _mtime(file) for version, file in files.items()}


def _key_files(directory: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    for entry in directory.iterdir():
        match = _KEY_FILE.fullmatch(entry.name)
        if match is not None:
            found[int(match.group(1))] = entry
    return found


def _mtime(file: Path) -> datetime:
    try:
        return datetime.fromtimestamp(file.stat().st_mtime, UTC)
    except OSError as exc:
        raise KeyLoadError(f"cannot read key file `{file.name}`: {exc.strerror}") from exc


def _read_key(file: Path) -> bytes:
    try:
        mode = file.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyLoadError(
                f"key file `{file.name}` is accessible by group or others (mode "
                f"{stat.S_IMODE(mode):04o}): set it to 0600"
            )
        text = file.read_text(encoding="ascii").strip()
        master = base64.b64decode(text, validate=True)
    except OSError as exc:
        raise KeyLoadError(f"cannot read key file `{file.name}`: {exc.strerror}") from exc
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise KeyLoadError(f"key file `{file.name}` is not base64") from exc
    if len(master) != KEY_BYTES:
        raise KeyLoadError(f"key file `{file.name}` must hold {KEY_BYTES} bytes, got {len(master)}")
    return master


def _write_new_key(directory: Path, version: int, *, tolerate_existing: bool) -> None:
    """Write `master-v<version>.key` atomically and exclusively (never overwrite a key).

    The key goes to a private temporary file first and is then hard-linked into place, so
    a reader never sees a half-written key and two concurrent writers cannot both win.
    """
    final = directory / f"master-v{version}.key"
    temp = directory / f".master-v{version}.{secrets.token_hex(8)}.tmp"
    data = base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, final)
        except FileExistsError:
            if not tolerate_existing:
                raise KeyLoadError(f"key file `{final.name}` already exists") from None
    except OSError as exc:
        raise KeyLoadError(f"cannot write key file `{final.name}`: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
