"""Policy hot reload: notice a changed policy set, validate it whole, record the switch, swap.

Three triggers share one path (`PolicyReloader.reload`): the file watcher (polling the policy
files' sizes and modification times, debounced so a set saved file by file is read once it
is still), SIGHUP, and the audited admin call `POST /v1/admin/policy/reload`.

INVARIANT: an invalid set never replaces a valid one, and no switch happens without a
durable access record naming the trigger and the old and new versions (fail closed: if the
record cannot be written, the gateway keeps the version it has).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway.domain import Caller
from gateway.errors import GatewayError
from gateway.policy import Policy, PolicyLoadError, load_policy
from gateway.policy.problems import Problem
from gateway.record import event_record, this_process

logger = logging.getLogger("gateway.reload")

Outcome = Literal["switched", "unchanged", "rejected", "unrecorded"]
Fingerprint = tuple[tuple[str, int, int], ...]


class Appender(Protocol):  # the part of AccessLog the reloader needs
    def append(self, record: dict[str, Any], *, timeout: float | None = None) -> int: ...


class Holder(Protocol):  # the part of services.PolicyHolder the reloader needs
    @property
    def current(self) -> Policy: ...

    def replace(self, policy: Policy) -> Policy: ...


@dataclass(frozen=True)
class ReloadResult:
    outcome: Outcome
    old_version: str
    new_version: str | None = None
    problems: tuple[Problem, ...] = ()
    log_index: int | None = None
    error: str | None = None


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
    """Validates a new policy set completely, records the switch, then swaps it in."""

    def __init__(
        self,
        holder: Holder,
        access_log: Appender,
        policy_dir: Path,
        public_keys_dir: Path,
        *,
        loader: Callable[[Path, Path], Policy] = load_policy,
        log_timeout_s: float = 10.0,
    ) -> None:
        self._holder = holder
        self._log = access_log
        self.policy_dir = policy_dir
        self.public_keys_dir = public_keys_dir
        self._loader = loader
        self._log_timeout = log_timeout_s
        self._lock = threading.Lock()  # one reload at a time; requests never wait on it
        self.last: ReloadResult | None = None

    def fingerprint(self) -> Fingerprint:
        return policy_fingerprint(self.policy_dir, self.public_keys_dir)

    def reload(self, trigger: str, *, caller: Caller | None = None,
               request_id: str | None = None, source: str | None = None) -> ReloadResult:
        """Load, validate and (if valid, new and recorded) switch; never raises for bad input."""
        with self._lock:
            result = self._reload(trigger, caller, request_id or uuid.uuid4().hex, source)
            self.last = result
            return result

    def _reload(self, trigger: str, caller: Caller | None, request_id: str,
                source: str | None) -> ReloadResult:
        old = self._holder.current
        try:
            new = self._loader(self.policy_dir, self.public_keys_dir)
        except PolicyLoadError as exc:
            logger.error("policy reload (%s) REJECTED: %d problem(s) in `%s`; still serving %s",
                         trigger, len(exc.problems), self.policy_dir, old.version)
            for problem in exc.problems[:20]:
                logger.error("  %s:%s:%s: %s", problem.file, problem.line, problem.column,
                             problem.message)
            self._record_rejection(old, trigger, caller, request_id, source, len(exc.problems))
            return ReloadResult("rejected", old.version, problems=tuple(exc.problems))
        if new.version == old.version:
            return ReloadResult("unchanged", old.version, new.version)
        record = event_record(
            "policy.reload", request_id=request_id, now=datetime.now(UTC),
            caller=caller, source=source, policy_version=new.version, status=200,
            trigger=trigger, old_version=old.version, new_version=new.version,
            process=this_process(),
        )
        try:
            index = self._log.append(record, timeout=self._log_timeout)
        except GatewayError as exc:  # no durable record → no switch
            logger.error("policy reload (%s) NOT applied: the switch could not be recorded: %s",
                         trigger, exc.detail)
            return ReloadResult("unrecorded", old.version, new.version, error=exc.detail)
        self._holder.replace(new)
        logger.warning("policy reloaded (%s): %s -> %s (log index %d)",
                       trigger, old.version, new.version, index)
        return ReloadResult("switched", old.version, new.version, log_index=index)

    def _record_rejection(self, old: Policy, trigger: str, caller: Caller | None,
                          request_id: str, source: str | None, problems: int) -> None:
        """Best effort: a rejected set changes nothing, but auditors see the attempt."""
        record = event_record(
            "policy.reload_rejected", request_id=request_id, now=datetime.now(UTC),
            caller=caller, source=source, policy_version=old.version, status=422,
            trigger=trigger, problems=problems,
            process=this_process(),
        )
        try:
            self._log.append(record, timeout=self._log_timeout)
        except GatewayError as exc:
            logger.error("rejected policy reload could not be recorded: %s", exc.detail)


class PolicyWatcher:
    """Polls the policy files; reloads once a change has stayed still for one interval."""

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
