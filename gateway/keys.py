"""Demo key pairs for the policy's client systems, and demo tokens signed with them.

In production each affiliate system generates and holds its own private key and mints its
own tokens; the gateway only ever needs the public keys (`keys/systems/*.pub.pem`, named by
`policies/affiliates.yaml`). Generating private keys and minting tokens here is a demo and
test convenience: the private keys go to the gateway's secrets folder, never to `keys/`.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import jwt
import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from gateway.auth.algorithms import (
    ALLOWED_ALGORITHMS,
    FULLY_SPECIFIED,
    PrivateKey,
    generate_private_key,
    pinned_name,
    private_key_fits,
)
from gateway.domain import SystemId
from gateway.errors import ConfigError, KeyLoadError, PolicyError

AFFILIATES_FILE = "affiliates.yaml"
_SYSTEM_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # also a file name: no separators, no dots


@dataclass(frozen=True, slots=True)
class _SystemEntry:
    id: SystemId
    algorithm: str
    public_key: PurePosixPath  # relative to the public keys folder


def generate_system_keys(
    policy_dir: Path, public_keys_dir: Path, private_dir: Path, *, overwrite: bool = False
) -> list[SystemId]:
    """Write a key pair of the pinned type for every system in `affiliates.yaml`.

    Public keys (PEM SubjectPublicKeyInfo) go to `public_keys_dir/<public_key>`, private keys
    (PEM PKCS#8, unencrypted, mode 0600) to `private_dir/systems/<id>.key.pem`. A system whose
    public key exists is skipped unless `overwrite` (in a deployment only public keys exist);
    one whose private key exists but not its public key gets the public key derived from it.
    Returns the systems whose public key was written.
    """
    written: list[SystemId] = []
    for entry in _read_systems(policy_dir / AFFILIATES_FILE):
        public_path = public_keys_dir.joinpath(*entry.public_key.parts)
        private_path = private_dir / "systems" / f"{entry.id}.key.pem"
        if public_path.exists() and not overwrite:
            continue
        if private_path.exists() and not overwrite:
            private_key = load_private_key(private_path)
            if not private_key_fits(private_key, entry.algorithm):
                raise KeyLoadError(
                    f"`{private_path}` is not a `{entry.algorithm}` key for `{entry.id}`"
                )
        else:
            private_key = generate_private_key(entry.algorithm)
            # Private first: a crash in between leaves a private key to derive from next time.
            _write_file(private_path, _private_pem(private_key), mode=0o600, dir_mode=0o700)
        _write_file(public_path, _public_pem(private_key), mode=0o644, dir_mode=0o755)
        written.append(entry.id)
    return written


def mint_token(
    private_key_path: Path,
    *,
    system: str,
    employee: str,
    audience: str,
    lifetime_s: int = 120,
    now: datetime | None = None,
    algorithm: str,
) -> str:
    """A JWT (RFC 7519) for `system` and `employee`, signed with the system's private key.

    Demo and test convenience: in production the affiliate system mints its own tokens.
    """
    if algorithm not in ALLOWED_ALGORITHMS:
        raise ConfigError(f"algorithm `{algorithm}` is not allowed: use `EdDSA` or `ES256`")
    if lifetime_s < 1:
        raise ConfigError(f"token lifetime must be at least 1 s, not {lifetime_s}")
    issued_at = now if now is not None else datetime.now(timezone.utc)
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError("`now` must be timezone-aware")
    private_key = load_private_key(private_key_path)
    if not private_key_fits(private_key, algorithm):
        raise KeyLoadError(f"`{private_key_path}` is not a `{algorithm}` private key")
    iat = int(issued_at.timestamp())
    claims = {
        "iss": system,
        "sub": employee,
        "aud": audience,
        "iat": iat,
        "exp": iat + lifetime_s,
        "jti": secrets.token_urlsafe(18),  # 144 random bits: collision-free in practice
    }
    # the header names the algorithm as RFC 9864 does (`Ed25519`, `ESP256`); P-256 signatures
    # come out low-S (`gateway.auth.algorithms.LowSEcdsaP256`)
    return jwt.encode(claims, private_key, algorithm=FULLY_SPECIFIED[algorithm])


def load_private_key(path: Path) -> PrivateKey:
    """Load an unencrypted PEM private key (Ed25519 or P-256) from `path`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read private key `{path}`: {exc.strerror or 'error'}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The cryptography message may quote parts of the file: never pass it on.
        raise KeyLoadError(f"`{path}` is not an unencrypted pem private key") from exc
    if private_key_fits(key, "EdDSA") or private_key_fits(key, "ES256"):
        return key
    raise KeyLoadError(f"`{path}` is neither an ed25519 nor a p-256 private key")


def _read_systems(path: Path) -> list[_SystemEntry]:
    """The systems of `affiliates.yaml`: only `id`, `algorithm` and `public_key` matter here."""
    try:
        document: Any = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read `{path}`: {exc.strerror or 'error'}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"`{path}` is not valid yaml") from exc
    affiliates = document.get("affiliates") if isinstance(document, dict) else None
    if not isinstance(affiliates, list):
        raise PolicyError(f"`{path}`: expected a mapping with an `affiliates` list")
    entries: list[_SystemEntry] = []
    for affiliate in affiliates:
        systems = affiliate.get("systems", []) if isinstance(affiliate, dict) else None
        if not isinstance(systems, list):
            raise PolicyError(f"`{path}`: every affiliate needs a `systems` list")
        entries.extend(_system_entry(path, raw) for raw in systems)
    return entries


def _system_entry(path: Path, raw: Any) -> _SystemEntry:
    if not isinstance(raw, dict):
        raise PolicyError(f"`{path}`: every system must be a mapping")
    system_id, public_key = raw.get("id"), raw.get("public_key")
    algorithm = pinned_name(raw.get("algorithm"))
    if not isinstance(system_id, str) or not _SYSTEM_ID.fullmatch(system_id):
        raise PolicyError(f"`{path}`: system id must be lowercase letters, digits and dashes")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise PolicyError(f"`{path}`: system `{system_id}`: `algorithm` must be `Ed25519` "
                          "(or `EdDSA`) or `ESP256` (or `ES256`)")
    if not isinstance(public_key, str) or not public_key:
        raise PolicyError(f"`{path}`: system `{system_id}`: `public_key` path missing")
    relative = PurePosixPath(public_key)
    if relative.is_absolute() or ".." in relative.parts or "\\" in public_key:
        raise PolicyError(
            f"`{path}`: system `{system_id}`: `public_key` must be a path inside the keys folder"
        )
    return _SystemEntry(SystemId(system_id), str(algorithm), relative)


def _private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_file(path: Path, data: bytes, *, mode: int, dir_mode: int) -> None:
    """Write atomically (temp file + rename) with `mode`, so no reader sees half a key."""
    try:
        path.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                os.fchmod(handle.fileno(), mode)  # mkstemp creates 0600; set before any byte
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write `{path}`: {exc.strerror or 'error'}") from exc
