"""What the pending-policy page shows, built from the governance store and the policy code:
the live and the pending set, the access diff with widenings marked, the recipient × purpose ×
attribute matrix with its views, and the problems of the files, each linked to its line.

Pure reading: nothing here changes a set (the page's forms call `PolicyReloader`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.domain import AffiliateId, AttributeId, PurposeId
from gateway.governance.files import inspect_files, load_files, read_files
from gateway.governance.store import StoredSet
from gateway.policy import Policy, PolicyLoadError
from gateway.policy.diff import AccessChange, ConditionChange, accesses, diff_policies
from gateway.policy.loader import FILES
from gateway.policy.problems import Problem
from gateway.services import Services


@dataclass(frozen=True, slots=True)
class ProblemView:
    code: str
    severity: str
    file: str  # the file's name, e.g. rules.yaml
    line: int
    column: int
    message_ko: str
    message_en: str

    @property
    def anchor(self) -> str:
        return f"/console/policy/files/{self.file}#L{self.line}"


@dataclass(frozen=True, slots=True)
class DiffRow:
    recipient: str
    purpose: str
    attribute: str
    systems: tuple[str, ...]
    change: str  # opened, closed, widened, narrowed, changed
    widening: bool
    old_views: tuple[str, ...]
    new_views: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MatrixCell:
    views: tuple[str, ...]  # empty: nothing released
    changed: bool  # differs from the live set
    widened: bool  # a widening of the live set


@dataclass(frozen=True, slots=True)
class RecipientMatrix:
    recipient: str
    purposes: tuple[str, ...]  # the columns
    rows: tuple[tuple[str, tuple[MatrixCell, ...]], ...]  # attribute → a cell per purpose


@dataclass(frozen=True, slots=True)
class PolicyPageView:
    live: Policy
    live_set: StoredSet | None
    pending: StoredSet | None
    pending_policy: Policy | None  # None when it no longer builds (see `problems`)
    problems: tuple[ProblemView, ...]  # of the pending set, else of the files on disk
    problems_of: str  # "pending" or "disk"
    disk_version: str
    diff: tuple[DiffRow, ...]
    conditions: tuple[ConditionChange, ...]
    widenings: int
    matrix: tuple[RecipientMatrix, ...]

    def name(self, kind: str, ident: str, lang: str) -> str:
        """The Korean (or English) name of an affiliate, purpose or attribute; the id if none."""
        for policy in (self.pending_policy, self.live):
            if policy is None:
                continue
            entry = {"affiliate": policy.affiliates.get(AffiliateId(ident)),
                     "purpose": policy.purposes.get(PurposeId(ident)),
                     "attribute": policy.attributes.get(AttributeId(ident))}.get(kind)
            if entry is not None:
                return entry.name_en if lang == "en" else entry.name_ko
        return ident


def _problems(problems: tuple[Problem, ...]) -> tuple[ProblemView, ...]:
    return tuple(ProblemView(p.code, p.severity, Path(p.file).name, p.line, p.column,
                             p.message_ko, p.message) for p in problems)


def _diff_rows(changes: tuple[AccessChange, ...]) -> tuple[DiffRow, ...]:
    return tuple(DiffRow(c.recipient, c.purpose, c.attribute, c.systems, c.change, c.widening,
                         c.old_views, c.new_views, c.notes) for c in changes)


def matrix(policy: Policy, baseline: Policy | None = None) -> tuple[RecipientMatrix, ...]:
    """What each recipient can receive, for which purpose, in which views (over all of its
    systems that may query); cells that differ from `baseline` are marked."""
    def grants(p: Policy) -> dict[tuple[str, str, str], tuple[str, ...]]:
        found: dict[tuple[str, str, str], set[str]] = {}
        for (recipient, purpose, attribute, _system), access in accesses(p).items():
            found.setdefault((recipient, purpose, attribute), set()).update(access.names())
        return {key: tuple(n for n in p.attributes[AttributeId(key[2])].views if n in names)
                for key, names in found.items()}

    new = grants(policy)
    old = grants(baseline) if baseline is not None else new
    widened = ({(c.recipient, c.purpose, c.attribute) for c in diff_policies(
        baseline, policy).accesses if c.widening} if baseline is not None else set())
    result: list[RecipientMatrix] = []
    for recipient in sorted({key[0] for key in new.keys() | old.keys()}):
        purposes = tuple(sorted({k[1] for k in new.keys() | old.keys() if k[0] == recipient}))
        attributes = sorted({k[2] for k in new.keys() | old.keys() if k[0] == recipient})
        rows = []
        for attribute in attributes:
            cells = []
            for purpose in purposes:
                key = (recipient, purpose, attribute)
                views = new.get(key, ())
                cells.append(MatrixCell(views, views != old.get(key, ()), key in widened))
            rows.append((attribute, tuple(cells)))
        result.append(RecipientMatrix(recipient, purposes, tuple(rows)))
    return tuple(result)


def build(services: Services) -> PolicyPageView:
    """Blocking (database and files): run it in a worker thread."""
    reloader = services.reloader
    store = reloader.store
    live = services.policy.current
    live_set, pending = store.live(), store.pending()
    disk = inspect_files(read_files(reloader.policy_dir), reloader.public_keys_dir,
                         shown_as=reloader.policy_dir)
    pending_policy: Policy | None = None
    if pending is not None:
        checked = inspect_files(pending.files, reloader.public_keys_dir,
                                shown_as=reloader.policy_dir)
        problems, problems_of = checked.problems, "pending"
        try:
            pending_policy = load_files(pending.files, reloader.public_keys_dir)
        except PolicyLoadError:
            pending_policy = None
    else:
        problems, problems_of = disk.problems, "disk"
    rows: tuple[DiffRow, ...] = ()
    conditions: tuple[ConditionChange, ...] = ()
    widenings = 0
    if pending_policy is not None:
        diff = diff_policies(live, pending_policy, labels=("live", "pending"))
        rows, conditions = _diff_rows(diff.accesses), diff.conditions
        widenings = diff.widenings
    shown = pending_policy or live
    return PolicyPageView(
        live=live, live_set=live_set, pending=pending, pending_policy=pending_policy,
        problems=_problems(problems), problems_of=problems_of, disk_version=disk.version,
        diff=rows, conditions=conditions, widenings=widenings,
        matrix=matrix(shown, live if pending_policy is not None else None))


def file_lines(services: Services, name: str, pending: bool) -> list[str] | None:
    """The lines of one policy file (of the pending set, or on disk); None for another name."""
    if name not in FILES:
        return None
    if pending:
        stored = services.reloader.store.pending()
        data = stored.files.get(name) if stored is not None else None
    else:
        data = read_files(services.reloader.policy_dir).get(name)
    if data is None:
        return []
    return data.decode("utf-8", errors="replace").splitlines()
