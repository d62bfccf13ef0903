"""The `policy_sets` table: which policy set is live, which one waits for approval.

Every gateway process reads the live version here (a one-row look-up each follow interval),
so an approval reaches every process, and a restarted process serves the approved set. State
changes are conditional updates (`WHERE state = 'pending'`): two approvals racing in two
processes make one set live once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db.models import PolicySet
from gateway.governance import files as policy_files
from gateway.governance.officer import Officer

PENDING, LIVE, SUPERSEDED, RETIRED = "pending", "live", "superseded", "retired"


@dataclass(frozen=True, slots=True)
class StoredSet:
    version: str
    state: str
    files: dict[str, bytes]
    detected_at: datetime
    detected_by: str
    proposed_by: str | None
    proposed_at: datetime | None
    proposal_index: int | None
    approved_by: str | None
    approved_at: datetime | None
    approval_index: int | None


def _stored(row: PolicySet) -> StoredSet:
    return StoredSet(
        version=row.version, state=row.state, files=policy_files.decode(row.files),
        detected_at=row.detected_at, detected_by=row.detected_by, proposed_by=row.proposed_by,
        proposed_at=row.proposed_at, proposal_index=row.proposal_index,
        approved_by=row.approved_by, approved_at=row.approved_at,
        approval_index=row.approval_index)


class PolicySetStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def live_version(self) -> str | None:
        with Session(self._engine) as session:
            return session.scalar(select(PolicySet.version).where(PolicySet.state == LIVE))

    def get(self, version: str) -> StoredSet | None:
        with Session(self._engine) as session:
            row = session.get(PolicySet, version)
            return None if row is None else _stored(row)

    def live(self) -> StoredSet | None:
        version = self.live_version()
        return None if version is None else self.get(version)

    def pending(self) -> StoredSet | None:
        """The set waiting for approval (at most one: a newer one supersedes it)."""
        with Session(self._engine) as session:
            row = session.scalars(select(PolicySet).where(PolicySet.state == PENDING)
                                  .order_by(PolicySet.detected_at.desc())).first()
            return None if row is None else _stored(row)

    def adopt(self, version: str, files: policy_files.PolicyFiles, now: datetime) -> StoredSet:
        """First start on an empty table: the set on disk is the live one. Another process
        adopting at the same moment wins harmlessly (the first row stays)."""
        try:
            with Session(self._engine) as session, session.begin():
                session.add(PolicySet(version=version, state=LIVE,
                                      files=policy_files.encode(files), detected_at=now,
                                      detected_by="first-start"))
        except IntegrityError:
            pass
        live = self.live()
        assert live is not None, "policy_sets: no live set after adoption"
        return live

    def add_pending(self, version: str, files: policy_files.PolicyFiles, detected_by: str,
                    now: datetime) -> None:
        """`version` becomes the pending set; an older pending set is superseded. A version
        seen before (superseded, retired) is pending again, its earlier names cleared: the
        log keeps who proposed and approved it then."""
        with Session(self._engine) as session, session.begin():
            session.execute(update(PolicySet).where(PolicySet.state == PENDING,
                                                    PolicySet.version != version)
                            .values(state=SUPERSEDED))
            row = session.get(PolicySet, version)
            if row is None:
                session.add(PolicySet(version=version, state=PENDING,
                                      files=policy_files.encode(files), detected_at=now,
                                      detected_by=detected_by))
            elif row.state not in (LIVE, PENDING):  # pending already: keep its proposer
                row.state, row.detected_at, row.detected_by = PENDING, now, detected_by
                row.proposed_by = row.proposed_at = row.proposal_index = None
                row.approved_by = row.approved_at = row.approval_index = None

    def withdraw_pending(self) -> None:
        """The files are back at the live version: nothing waits any more."""
        with Session(self._engine) as session, session.begin():
            session.execute(update(PolicySet).where(PolicySet.state == PENDING)
                            .values(state=SUPERSEDED))

    def name_proposer(self, version: str, officer: Officer, log_index: int,
                      now: datetime) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(update(PolicySet).where(PolicySet.version == version,
                                                    PolicySet.state == PENDING)
                            .values(proposed_by=officer.name, proposed_at=now,
                                    proposal_index=log_index))

    def make_live(self, version: str, approver: Officer, log_index: int, now: datetime) -> bool:
        """Pending → live and the old live set → retired, in one transaction; False when the
        set was no longer pending (another approval won, or a newer set superseded it)."""
        with Session(self._engine) as session, session.begin():
            switched = session.execute(
                update(PolicySet).where(PolicySet.version == version, PolicySet.state == PENDING)
                .values(state=LIVE, approved_by=approver.name, approved_at=now,
                        approval_index=log_index))
            if switched.rowcount != 1:  # type: ignore[attr-defined]
                return False
            session.execute(update(PolicySet).where(PolicySet.state == LIVE,
                                                    PolicySet.version != version)
                            .values(state=RETIRED))
        return True
