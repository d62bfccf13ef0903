"""Log-signing key rotation: a new key, a durable record of the switch, a co-signed hand-over.

Steps, each safe to repeat after a crash (a rerun resumes with the pending key):
1. generate the new key as `log-signing-v<N>.key.pem.pending` and publish both verifier keys;
2. append a `key.rotation` access record (old and new verifier keys, who, why), still
   signed over by the old key — no switch without a durable record (fail closed);
3. sign a checkpoint covering that record with BOTH keys (a signed note may carry several
   signatures, c2sp.org/signed-note), so a verifier trusting only the old key can check the
   hand-over and learn the new key from the log itself;
4. activate the new key (atomic rename) and move the old one to `retired-log-keys/`.
Checkpoints signed before stay verifiable with the old verifier key, which stays published.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gateway.accesslog import keyring as kr
from gateway.accesslog.errors import NoteError
from gateway.accesslog.keyring import LogKeyring
from gateway.accesslog.note import LogSigner, verify_note
from gateway.domain import Caller
from gateway.errors import KeyLoadError
from gateway.record import event_record, this_process

logger = logging.getLogger("gateway.keyrotation")


class RotatableLog(Protocol):  # the part of AccessLog a rotation needs
    def append(self, record: dict[str, Any], *, timeout: float | None = None) -> int: ...

    def checkpoint(self, force: bool = False) -> str: ...


@dataclass(frozen=True, slots=True)
class Rotation:
    old_version: int
    new_version: int
    old_key: str  # verifier keys (public)
    new_key: str
    log_index: int
    checkpoint: str  # the hand-over note, signed by both keys


def rotate_log_key(
    access_log: RotatableLog,
    keyring: LogKeyring,
    public_dir: Path,
    *,
    now: datetime,
    trigger: str,
    operator: str | None = None,
    reason: str | None = None,
    caller: Caller | None = None,
    policy_version: str | None = None,
) -> Rotation:
    """Introduce a new log-signing key (see the module docstring); return what was done."""
    keyring.refresh()
    secrets = keyring.secrets
    old, old_version = keyring.current, keyring.version
    new_version, new = _pending_key(secrets, keyring.name)
    kr.publish_verifier_key(public_dir, old_version, old)
    kr.publish_verifier_key(public_dir, new_version, new)
    record = event_record(
        "key.rotation", request_id=str(uuid.uuid4()), now=now, caller=caller,
        source=caller.source if caller else None, policy_version=policy_version, status=200,
        trigger=trigger, operator=operator, reason=reason,
        key_name=keyring.name,
        old_key={"version": old_version, "verifier_key": old.verifier_key()},
        new_key={"version": new_version, "verifier_key": new.verifier_key()},
        process=this_process(),
    )
    # INVARIANT: the new key signs nothing before the record of the switch is durable
    index = access_log.append(record)
    with keyring.handing_over(new):
        note = access_log.checkpoint(force=True)
    for key in (old, new):  # fail closed if the log did not sign through this keyring
        try:
            verify_note(note, [key.verifier_key()])
        except NoteError as exc:
            raise KeyLoadError("hand-over checkpoint is not signed by both log keys: "
                               "the access log does not sign with this keyring") from exc
    _activate(secrets, old_version, new_version)
    keyring.refresh()
    logger.warning("log-signing key rotated: version %d -> %d (log index %d)",
                   old_version, new_version, index)
    return Rotation(old_version, new_version, old.verifier_key(), new.verifier_key(), index, note)


def _pending_key(secrets: Path, name: str) -> tuple[int, LogSigner]:
    """The key of an interrupted rotation if there is one, else a new one."""
    pending = kr.pending_keys(secrets)
    if pending:
        version = max(pending)
        return version, LogSigner.load(pending[version], name)
    version = kr.next_version(secrets)
    path = secrets / (kr.key_file(version) + kr.PENDING_SUFFIX)
    return version, LogSigner.generate(path, name)


def _activate(secrets: Path, old_version: int, new_version: int) -> None:
    pending = secrets / (kr.key_file(new_version) + kr.PENDING_SUFFIX)
    os.replace(pending, secrets / kr.key_file(new_version))
    retired = secrets / kr.RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    for version, path in kr.active_keys(secrets).items():
        if version < new_version:  # the old key, and any older one left behind
            os.replace(path, retired / path.name)
    _fsync_dir(retired)
    _fsync_dir(secrets)
    if old_version not in kr.retired_keys(secrets):
        logger.error("log key version %d was not found to retire", old_version)


def _fsync_dir(folder: Path) -> None:
    # a rename is durable only once its directory is flushed (POSIX; ext4 and xfs need it)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class MasterRotation:
    old_version: int
    new_version: int
    log_index: int


class RotatableMasterKeys(Protocol):  # the part of pseudonymizer's FileKeyProvider needed
    def reload(self) -> None: ...

    def current_version(self, purpose: str) -> int: ...

    def rotate(self) -> int: ...


def rotate_master_key(
    access_log: RotatableLog,
    keys: RotatableMasterKeys,
    *,
    now: datetime,
    trigger: str,
    grace_days: int,
    operator: str | None = None,
    reason: str | None = None,
    policy_version: str | None = None,
) -> MasterRotation:
    """Add master key v<N+1> (new pseudonyms and RRN ciphertexts use it from then on).

    The record comes first (INVARIANT: no new key version exists without a durable record of
    who made it and why). Pseudonyms of the old version keep resolving for `grace_days`;
    RRN ciphertexts of every version keep decrypting; the blind index stays pinned to its
    own version, so look-ups are unaffected. Running gateways pick the version up on their
    next key refresh (`GATEWAY_KEY_REFRESH_INTERVAL_S`).
    """
    keys.reload()
    old_version = keys.current_version("pseudonym")
    new_version = old_version + 1
    record = event_record(
        "key.rotation", request_id=str(uuid.uuid4()), now=now, caller=None, source=None,
        policy_version=policy_version, status=200, trigger=trigger, operator=operator,
        reason=reason, key_name="master", old_key={"version": old_version},
        new_key={"version": new_version}, grace_days=grace_days,
        process=this_process(),
    )
    index = access_log.append(record)
    made = keys.rotate()
    if made != new_version:  # another operator rotated at the same moment
        raise KeyLoadError(f"master key rotation raced: recorded `v{new_version}`, "
                           f"made `v{made}`; check `gateway keys` and the access log")
    logger.warning("master key rotated: version %d -> %d (log index %d)",
                   old_version, new_version, index)
    return MasterRotation(old_version, new_version, index)
