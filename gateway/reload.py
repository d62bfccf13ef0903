"""Policy reload with four eyes: a changed set is checked and held *pending*; it goes live only
when a second officer approves its exact version hash.

Three triggers find a changed set (`PolicyReloader.reload`): the file watcher (polling the
policy files' sizes and modification times, debounced so a set saved file by file is read once
it is still), SIGHUP, and the audited admin call `POST /v1/admin/policy/reload` (or `gateway
policy propose`), which also names the officer who proposes it. `approve` makes it live;
`follow` lets every other process pick the approved set up from the `policy_sets` table.

Records: `policy.detected` (a valid set found by the watcher or SIGHUP; no person known yet),
`policy.proposed` (an officer puts their name to a pending set), `policy.approved` (a second
officer; names both), `policy.approval_refused`, `policy.reload_rejected` (invalid set),
`policy.withdrawn` (the files went back to the live set before anyone approved the change).

INVARIANT: an invalid set is never pending nor live; a set goes live only after a durable
`policy.approved` record naming a proposer and a different approver (fail closed: if the record
cannot be written, nothing changes). Auto-apply (the demo only, unless set on purpose) approves
in the name of `auto-apply`, and says so in the record.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway.errors import GatewayError
from gateway.governance import files as policy_files
from gateway.governance.errors import (
    ApprovalRefused,
    NotAVersion,
    NotProposed,
    PendingSetBroken,
    SelfApproval,
    VersionNotPending,
)
from gateway.governance.officer import Officer
from gateway.governance.store import LIVE, PENDING, PolicySetStore, StoredSet
from gateway.policy import Policy, PolicyLoadError
from gateway.policy.problems import Problem
from gateway.record import event_record, this_process

logger = logging.getLogger("gateway.reload")

Outcome = Literal["pending", "proposed", "unchanged", "rejected", "unrecorded"]
Fingerprint = tuple[tuple[str, int, int], ...]
AUTO_APPLY = Officer(name="auto-apply", via="demo")
VERSION = re.compile(r"sha256:[0-9a-f]{64}")  # how `loader` names a set


class Appender(Protocol):  # the part of AccessLog the reloader needs
    def append(self, record: dict[str, Any], *, timeout: float | None = None) -> int: ...


class Holder(Protocol):  # the part of services.PolicyHolder the reloader needs
    @property
    def current(self) -> Policy: ...

    def replace(self, policy: Policy) -> Policy: ...


@dataclass(frozen=True)
class ReloadResult:
    """What a reload found. `pending`: a new set waits for approval (found by the watcher or
    SIGHUP, no proposer yet); `proposed`: an officer's name is now on the pending set."""

    outcome: Outcome
    live_version: str
    version: str | None = None  # of the files read
    problems: tuple[Problem, ...] = ()  # errors when rejected; warnings otherwise
    log_index: int | None = None
    error: str | None = None
    applied: bool = False  # auto-apply made it live at once


@dataclass(frozen=True)
class ApprovalResult:
    old_version: str
    new_version: str
    proposed_by: str
    approved_by: str
    log_index: int


def policy_fingerprint(policy_dir: Path, public_keys_dir: Path) -> Fingerprint:
    """Name, size and mtime of every file a policy load reads; cheap (stat only)."""
    entries: list[tuple[str, int, int]] = []
    for root in (policy_dir, public_keys_dir):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in {".yaml", ".yml", ".pem"}:
                st = path.stat()
                entries.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(entries)


class PolicyReloader:
    """Checks a changed policy set, holds it pending, and switches once it is approved."""

    def __init__(
        self,
        holder: Holder,
        access_log: Appender,
        policy_dir: Path,
        public_keys_dir: Path,
        store: PolicySetStore,
        *,
        auto_apply: bool = False,
        log_timeout_s: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._holder = holder
        self._log = access_log
        self.policy_dir = policy_dir
        self.public_keys_dir = public_keys_dir
        self.store = store
        self.auto_apply = auto_apply
        self._log_timeout = log_timeout_s
        self._clock = clock
        self._lock = threading.Lock()  # one change at a time; requests never wait on it
        self.last: ReloadResult | None = None

    def fingerprint(self) -> Fingerprint:
        return policy_fingerprint(self.policy_dir, self.public_keys_dir)

    # --- finding a changed set ---------------------------------------------------------------
    def reload(self, trigger: str, *, officer: Officer | None = None,
               request_id: str | None = None, source: str | None = None) -> ReloadResult:
        """Read and check the files; a valid new set becomes pending. Never raises for bad
        input, and never makes a set live (unless auto-apply is on)."""
        with self._lock:
            result = self._reload(trigger, officer, request_id or uuid.uuid4().hex, source)
            self.last = result
            return result

    def _reload(self, trigger: str, officer: Officer | None, request_id: str,
                source: str | None) -> ReloadResult:
        # The live set of the store, not of this process: an approval made in another process
        # is the baseline here too, even before `follow` has switched this one.
        live = self.store.live_version() or self._holder.current.version
        files = policy_files.read_files(self.policy_dir)
        inspection = policy_files.inspect_files(files, self.public_keys_dir,
                                                shown_as=self.policy_dir)
        if inspection.policy is None:
            logger.error("policy reload (%s) REJECTED: %d problem(s) in `%s`; still serving %s",
                         trigger, len(inspection.errors), self.policy_dir, live)
            for problem in inspection.errors[:20]:
                logger.error("  %s %s:%s:%s: %s", problem.code, problem.file, problem.line,
                             problem.column, problem.message)
            self._record("policy.reload_rejected", request_id, officer, source, live, 422,
                         trigger=trigger, version=inspection.version,
                         problems=len(inspection.errors),
                         codes=sorted({p.code for p in inspection.errors}))
            return ReloadResult("rejected", live, inspection.version, inspection.errors)
        version = inspection.version
        warnings = inspection.warnings
        if version == live:
            pending = self.store.pending()
            if pending is not None:  # the files went back to the live set: nothing waits
                self.store.withdraw_pending()
                self._record("policy.withdrawn", request_id, officer, source, live, 200,
                             trigger=trigger, version=pending.version)
            return ReloadResult("unchanged", live, version, warnings)
        stored = self.store.get(version)
        if stored is not None and stored.state == PENDING and (
                officer is None or stored.proposed_by is not None):
            return ReloadResult("unchanged", live, version, warnings)
        now = self._clock()
        kind = "policy.detected" if officer is None else "policy.proposed"
        try:
            index = self._append(event_record(
                kind, request_id=request_id, now=now, caller=None, source=source,
                policy_version=live, status=200, trigger=trigger, live_version=live,
                new_version=version, warnings=len(warnings), process=this_process(),
            ) | {"actor": self._actor(officer, trigger)})
        except GatewayError as exc:  # no durable record → not pending
            logger.error("policy set %s NOT held pending (%s): could not be recorded: %s",
                         version, trigger, exc.detail)
            return ReloadResult("unrecorded", live, version, warnings, error=exc.detail)
        if stored is None or stored.state != PENDING:
            self.store.add_pending(version, files, trigger, now)
        if officer is not None:
            self.store.name_proposer(version, officer, index, now)
        logger.warning("policy set %s is PENDING (%s%s); still serving %s until a second "
                       "officer approves it: `gateway policy approve %s --officer NAME`",
                       version, trigger, f", proposed by {officer.name}" if officer else "",
                       live, version)
        result = ReloadResult("pending" if officer is None else "proposed", live, version,
                              warnings, log_index=index)
        if self.auto_apply:
            return self._auto_apply(result, request_id, source)
        return result

    def _auto_apply(self, result: ReloadResult, request_id: str,
                    source: str | None) -> ReloadResult:
        assert result.version is not None
        try:
            self._approve(result.version, AUTO_APPLY, request_id, source, four_eyes=False)
        except GatewayError as exc:
            logger.error("auto-apply of %s failed: %s", result.version, exc.detail)
            return result
        return ReloadResult(result.outcome, self._holder.current.version, result.version,
                            result.problems, log_index=result.log_index, applied=True)

    # --- approving ----------------------------------------------------------------------------
    def approve(self, version: str, officer: Officer, *, request_id: str | None = None,
                source: str | None = None) -> ApprovalResult:
        """Make the pending set live. Raises `ApprovalRefused` (recorded) when `version` is not
        the pending one, has no named proposer, or `officer` proposed it."""
        with self._lock:
            return self._approve(version, officer, request_id or uuid.uuid4().hex, source,
                                 four_eyes=True)

    def _approve(self, version: str, officer: Officer, request_id: str, source: str | None,
                 *, four_eyes: bool) -> ApprovalResult:
        live = self._holder.current.version
        if not VERSION.fullmatch(version):
            # typed by a person: it may hold anything, so it is neither repeated nor recorded
            exc = NotAVersion("`version` is not a policy version hash: `sha256:` and 64 hex "
                              "digits, as `gateway policy pending` shows it")
            exc.log_index = self._record_refusal(exc, request_id, officer, source, live, None)
            raise exc
        stored = self.store.get(version)
        try:
            pending = self._pending_for(version, stored, officer, four_eyes=four_eyes)
            policy = self._build(pending)
        except ApprovalRefused as exc:
            exc.log_index = self._record_refusal(exc, request_id, officer, source, live,
                                                 version)
            raise
        proposer = pending.proposed_by or officer.name
        now = self._clock()
        index = self._append(event_record(
            "policy.approved", request_id=request_id, now=now, caller=None, source=source,
            policy_version=version, status=200, old_version=live, new_version=version,
            proposed_by=proposer, proposal_index=pending.proposal_index,
            approved_by=officer.name, four_eyes=four_eyes, process=this_process(),
        ) | {"actor": officer.actor()})
        if not self.store.make_live(version, officer, index, now):
            raise VersionNotPending(f"policy version `{version}` was approved or superseded "
                                    "meanwhile")
        self._holder.replace(policy)
        logger.warning("policy %s is LIVE: proposed by %s, approved by %s (log index %d); "
                       "was %s", version, proposer, officer.name, index, live)
        return ApprovalResult(live, version, proposer, officer.name, index)

    def _build(self, pending: StoredSet) -> Policy:
        try:
            policy = policy_files.load_files(pending.files, self.public_keys_dir)
        except PolicyLoadError as exc:
            raise PendingSetBroken(f"policy version `{pending.version}` no longer loads "
                                   f"({len(exc.problems)} problem(s), e.g. a public key was "
                                   "removed): fix the files and propose again") from exc
        if policy.version != pending.version:  # the stored bytes are not what was checked
            raise PendingSetBroken(f"stored policy set does not hash to `{pending.version}`")
        return policy

    def _pending_for(self, version: str, stored: StoredSet | None, officer: Officer, *,
                     four_eyes: bool) -> StoredSet:
        if stored is None:
            # never repeated: a version no set has is only what was typed
            raise VersionNotPending("no policy set has the version given: copy the version "
                                    "shown by `gateway policy pending`")
        if stored.state == LIVE:
            raise VersionNotPending(f"policy version `{version}` is already live")
        if stored.state != PENDING:
            pending = self.store.pending()
            newer = f": the pending one is `{pending.version}`" if pending else ""
            raise VersionNotPending(f"policy version `{version}` is stale (a newer set replaced "
                                    f"it){newer}")
        if four_eyes and stored.proposed_by is None:
            raise NotProposed(f"policy version `{version}` has no named proposer: an officer "
                              "proposes it first (`gateway policy propose --officer NAME`)")
        if four_eyes and officer.is_same_person(stored.proposed_by):
            raise SelfApproval(f"`{officer.name}` proposed policy version `{version}`: a second "
                               "officer must approve it")
        return stored

    # --- every process ------------------------------------------------------------------------
    def follow(self) -> bool:
        """Switch to the live set of the store when another process approved one; True when
        this process switched. A set that cannot be built here keeps the current one."""
        live = self.store.live_version()
        if live is None or live == self._holder.current.version:
            return False
        with self._lock:
            stored = self.store.get(live)
            if stored is None or stored.state != LIVE:
                return False
            try:
                policy = policy_files.load_files(stored.files, self.public_keys_dir)
            except PolicyLoadError as exc:
                logger.error("approved policy %s cannot be built in this process (%d "
                             "problem(s)); still serving %s", live, len(exc.problems),
                             self._holder.current.version)
                return False
            old = self._holder.replace(policy)
        logger.warning("policy %s is LIVE (approved by %s, log index %s); was %s",
                       live, stored.approved_by, stored.approval_index, old.version)
        return True

    # --- records ------------------------------------------------------------------------------
    def _append(self, record: dict[str, Any]) -> int:
        return self._log.append(record, timeout=self._log_timeout)

    def _actor(self, officer: Officer | None, trigger: str) -> dict[str, Any]:
        """The officer; when the watcher or SIGHUP found the set, the process that found it
        (no person is known until an officer proposes it)."""
        if officer is not None:
            return officer.actor()
        return {"employee": None, "via": trigger, "system": None, "affiliate": None}

    def _record(self, kind: str, request_id: str, officer: Officer | None, source: str | None,
                live: str, status: int, **fields: Any) -> int | None:
        """Best effort: the record of something that changed nothing."""
        record = event_record(kind, request_id=request_id, now=self._clock(), caller=None,
                              source=source, policy_version=live, status=status,
                              process=this_process(), **fields)
        try:
            return self._append(record | {"actor": self._actor(officer, fields.get(
                "trigger", "unknown"))})
        except GatewayError as exc:
            logger.error("%s could not be recorded: %s", kind, exc.detail)
            return None

    def _record_refusal(self, exc: ApprovalRefused, request_id: str, officer: Officer,
                        source: str | None, live: str, version: str | None) -> int | None:
        return self._record("policy.approval_refused", request_id, officer, source, live,
                            exc.status, trigger="approve", version=version, reason=exc.reason)


class PolicyWatcher:
    """Polls the policy files; checks them once a change has stayed still for one interval."""

    def __init__(self, reloader: PolicyReloader) -> None:
        self._reloader = reloader
        self._seen = reloader.fingerprint()
        self._pending: Fingerprint | None = None

    def poll(self) -> ReloadResult | None:
        """One tick (blocking file-system calls: run it off the event loop)."""
        current = self._reloader.fingerprint()
        if current == self._seen:
            self._pending = None
            return None
        if current != self._pending:  # still changing (an editor saving file by file): wait
            self._pending = current
            return None
        self._seen, self._pending = current, None
        return self._reloader.reload("file-watch")
