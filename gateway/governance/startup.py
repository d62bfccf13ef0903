"""Which policy set a starting process serves: the approved one, not whatever is on disk."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from gateway.governance.files import load_files, read_files
from gateway.governance.store import PolicySetStore
from gateway.policy import Policy

logger = logging.getLogger("gateway.governance")


def policy_in_force(store: PolicySetStore, policy_dir: Path, public_keys_dir: Path) -> Policy:
    """The live set of the store; on the very first start (no live set yet) the files on disk,
    adopted as live: there is nothing earlier for a second officer to compare them with.

    A changed set on disk is not served here: the watcher (or SIGHUP, or an officer) finds it
    and holds it pending until it is approved.
    """
    live = store.live()
    if live is None:
        files = read_files(policy_dir)
        policy = load_files(files, public_keys_dir)  # PolicyLoadError: refuse to start
        live = store.adopt(policy.version, files, datetime.now(UTC))
        if live.version == policy.version:
            logger.warning("first start: policy %s from `%s` adopted as the live set",
                           policy.version, policy_dir)
            return policy
    return load_files(live.files, public_keys_dir)
