"""Versioned log-signing keys: the newest signs, retired ones stay published so old notes verify.

Files in the gateway's secrets folder (PEM PKCS#8, owner-only):
- `log-signing.key.pem` — version 1, the name a first run has always created;
- `log-signing-v<N>.key.pem` — version N ≥ 2, made by a rotation; the highest version signs;
- `log-signing-v<N>.key.pem.pending` — a rotation's new key before its record is durable;
- `retired-log-keys/` — keys a rotation replaced (the operator may destroy them).

Public verifier keys (C2SP signed-note `name+hash+key`, one line) are published as
`<public keys folder>/log/log-signing-v<N>.vkey` so an export can ship every key a verifier
may need: a verifier is given the *set* of keys it trusts, and old checkpoints keep
verifying against the old key. Every version keeps the origin as its key name
(c2sp.org/tlog-checkpoint: the key name SHOULD match the origin); the key hash tells the
versions apart, as in golang.org/x/mod/sumdb/note.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.accesslog.note import LogSigner, parse_verifier_key, sign_note_with
from gateway.errors import ConfigError, KeyLoadError

LEGACY_KEY_FILE = "log-signing.key.pem"  # version 1
PENDING_SUFFIX = ".pending"
RETIRED_DIR = "retired-log-keys"
PUBLIC_SUBDIR = "log"
_VERSIONED = re.compile(r"log-signing-v([1-9][0-9]{0,5})\.key\.pem")
_VKEY = re.compile(r"log-signing-v([1-9][0-9]{0,5})\.vkey")


def key_file(version: int) -> str:
    return LEGACY_KEY_FILE if version == 1 else f"log-signing-v{version}.key.pem"


def vkey_file(version: int) -> str:
    return f"log-signing-v{version}.vkey"


def _versions_in(folder: Path, suffix: str = "") -> dict[int, Path]:
    """Key files `<key_file(N)><suffix>` in `folder`, by version N."""
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        name = path.name
        if suffix:
            if not name.endswith(suffix):
                continue
            name = name[: -len(suffix)]
        if name == LEGACY_KEY_FILE:
            found[1] = path
        elif match := _VERSIONED.fullmatch(name):
            found[int(match.group(1))] = path
    return found


def active_keys(secrets: Path) -> dict[int, Path]:
    """Key files that may sign, by version (the highest one does)."""
    return _versions_in(secrets)


def pending_keys(secrets: Path) -> dict[int, Path]:
    return _versions_in(secrets, PENDING_SUFFIX)


def retired_keys(secrets: Path) -> dict[int, Path]:
    return _versions_in(secrets / RETIRED_DIR)


def next_version(secrets: Path) -> int:
    """A version number never used before, in any state (a number names one key for good)."""
    used = {*active_keys(secrets), *pending_keys(secrets), *retired_keys(secrets)}
    return max(used, default=0) + 1


def has_active_key(secrets: Path) -> bool:
    return bool(active_keys(secrets))


def create_first_key(secrets: Path, name: str) -> LogSigner:
    """Generate version 1 on a first run; refuses if any log key, even retired, exists."""
    if next_version(secrets) != 1:
        raise KeyLoadError(f"no active log-signing key in `{secrets}` but pending or retired "
                           "ones exist: restore the active key file")
    return LogSigner.generate(secrets / LEGACY_KEY_FILE, name)


# --- published verifier keys --------------------------------------------------------------------
def publish_verifier_key(
    public_dir: Path, version: int, signer: LogSigner, *, replace: bool = False
) -> Path:
    """Write `signer`'s verifier key as `<public_dir>/log/log-signing-v<N>.vkey` (idempotent).

    Refuses to replace a published key by a different one (a verifier may already trust
    it) unless `replace`: only a brand-new deployment's first key may do that.
    """
    path = public_dir / PUBLIC_SUBDIR / vkey_file(version)
    line = signer.verifier_key() + "\n"
    if path.exists() and not replace:
        if path.read_text(encoding="ascii", errors="replace") != line:
            raise ConfigError(f"published verifier key `{path.name}` differs from log key "
                              f"version {version}: refusing to overwrite it")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(line, encoding="ascii")
    os.replace(tmp, path)  # readers never see half a key
    return path


def published_verifier_keys(public_dir: Path) -> dict[int, str]:
    """The published verifier keys by version, each checked to be a well-formed key."""
    folder = public_dir / PUBLIC_SUBDIR
    keys: dict[int, str] = {}
    if not folder.is_dir():
        return keys
    for path in folder.iterdir():
        match = _VKEY.fullmatch(path.name)
        if match:
            text = path.read_text(encoding="ascii", errors="replace").strip()
            parse_verifier_key(text)  # raises MalformedVerifierKey naming the key
            keys[int(match.group(1))] = text
    return dict(sorted(keys.items()))


# --- the keyring the access log signs with ------------------------------------------------------
class LogKeyring:
    """The log's `NoteSigner`: signs with the newest active key, noticing rotations on disk.

    A rotation made by another process (`gateway keys rotate-log-key`) renames key files in
    the secrets folder; each signature first compares the folder's modification time (one
    `stat`) and reloads when it moved, so every gateway process switches within one
    checkpoint interval without a restart.
    """

    def __init__(self, secrets: Path, name: str) -> None:
        self._secrets = secrets
        self._name = name
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._handover: LogSigner | None = None
        self.version, self._signer = self._load()

    def __repr__(self) -> str:
        return f"LogKeyring(version={self.version}, signer={self._signer!r})"

    def _load(self) -> tuple[int, LogSigner]:
        self._stamp = self._folder_stamp()
        keys = active_keys(self._secrets)
        if not keys:
            raise KeyLoadError(f"no log-signing key in `{self._secrets}`: run `gateway keys init`")
        version = max(keys)
        return version, LogSigner.load(keys[version], self._name)

    def _folder_stamp(self) -> int | None:
        try:
            return os.stat(self._secrets).st_mtime_ns
        except OSError:
            return None

    def refresh(self) -> bool:
        """Reload if the secrets folder changed; True when the signing key changed."""
        with self._lock:
            if self._folder_stamp() == self._stamp:
                return False
            old = self._signer.key_hash
            self.version, self._signer = self._load()
            return self._signer.key_hash != old

    @property
    def current(self) -> LogSigner:
        return self._signer

    @property
    def secrets(self) -> Path:
        return self._secrets

    @property
    def name(self) -> str:
        return self._name

    def verifier_key(self) -> str:
        return self._signer.verifier_key()

    def sign_note(self, body: str) -> str:
        self.refresh()
        with self._lock:
            handover = self._handover
            signer = self._signer
        if handover is not None:  # old and new key: a verifier trusting either follows on
            return sign_note_with(body, [signer, handover])
        return signer.sign_note(body)

    @contextmanager
    def handing_over(self, new: LogSigner) -> Iterator[None]:
        """Within the block, notes are co-signed by the current key and `new`."""
        with self._lock:
            self._handover = new
        try:
            yield
        finally:
            with self._lock:
                self._handover = None
