"""Governance of the policy: a changed set is pending until a second officer approves its
exact version hash (four eyes); every step is an access record naming the people.

    officer = Officer.from_caller(caller)          # or Officer.named("kim", via="cli")
    reloader.reload("admin-call", officer=officer)  # check the files: a pending set
    reloader.approve(version, officer=other)        # a second officer: the set goes live

The state (pending, live) lives in the `policy_sets` table (`store.PolicySetStore`), so every
gateway process follows an approval, and a restart serves the approved set.
"""

from __future__ import annotations

from gateway.governance.errors import (
    ApprovalRefused,
    NotProposed,
    SelfApproval,
    VersionNotPending,
)
from gateway.governance.files import PolicyFiles, load_files, read_files
from gateway.governance.officer import Officer
from gateway.governance.store import PolicySetStore, StoredSet

__all__ = [
    "ApprovalRefused",
    "NotProposed",
    "Officer",
    "PolicyFiles",
    "PolicySetStore",
    "SelfApproval",
    "StoredSet",
    "VersionNotPending",
    "load_files",
    "read_files",
]
