"""Which policy set a starting process serves: the approved one, not whatever is on disk."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import ConfigError
from gateway.governance.files import PolicyFiles, inspect_files, read_files
from gateway.governance.store import PolicySetStore, StoredSet
from gateway.policy import Policy, PolicyLoadError

logger = logging.getLogger("gateway.governance")


def _build(files: PolicyFiles, policy_dir: Path, public_keys_dir: Path) -> Policy:
    """The set, or `PolicyLoadError` naming each problem at its line in the officer's folder."""
    inspection = inspect_files(files, public_keys_dir, shown_as=policy_dir)
    if inspection.policy is None:
        raise PolicyLoadError(list(inspection.errors))
    return inspection.policy


def policy_in_force(store: PolicySetStore, policy_dir: Path, public_keys_dir: Path) -> Policy:
    """The live set of the store; on the very first start (no live set yet) the files on disk,
    adopted as live: there is nothing earlier for a second officer to compare them with.

    A changed set on disk is not served here: the watcher (or SIGHUP, or an officer) finds it
    and holds it pending until it is approved. A live set that no longer builds (a public key
    it names was removed) stops the start, as an invalid set always has (fail closed).
    """
    try:
        live: StoredSet | None = store.live()
    except SQLAlchemyError as exc:
        raise ConfigError("the policy store (`policy_sets`) cannot be read: run `gateway db "
                          f"upgrade` first ({type(exc).__name__})") from exc
    if live is None:
        files = read_files(policy_dir)
        policy = _build(files, policy_dir, public_keys_dir)  # invalid: refuse to start
        live = store.adopt(policy.version, files, datetime.now(UTC))
        if live.version == policy.version:
            logger.warning("first start: policy %s from `%s` adopted as the live set",
                           policy.version, policy_dir)
            return policy
    return _build(live.files, policy_dir, public_keys_dir)
