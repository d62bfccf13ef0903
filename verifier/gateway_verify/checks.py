"""Every check of an export archive, in one pass over its members (docs/EXPORT-FORMAT.md).

Checks: the checkpoint's signature by a trusted key (C2SP signed-note); each record's
inclusion at its index in the checkpoint's tree (RFC 9162 §2.1.3.2); indices strictly
increasing and covered by the tree size; each record inside the declared filters; the
manifest's counts; consistency with the previous checkpoint (RFC 9162 §2.1.4.2); and the
export's own `log.export` record: its inclusion, that no record lies at or beyond the tree
size it covers, that its filters and counts are the manifest's, and that the count and
digest of the archive's records are the ones it logged. Every problem found becomes one
line of the report naming what failed and where.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.scanner
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from gateway_verify import FORMAT
from gateway_verify.archive import Member, read_members
from gateway_verify.errors import MalformedArchive, MalformedKey, MalformedNote, VerifyError
from gateway_verify.export_record import ExportRecord, selection_digest
from gateway_verify.filters import Filters
from gateway_verify.handover import Handover, follow, label
from gateway_verify.inclusion import InclusionChecker
from gateway_verify.merkle import HASH_SIZE, leaf_hash, verify_consistency
from gateway_verify.note import Checkpoint, VerifierKey, check_note, parse_checkpoint, parse_key
from gateway_verify.summary import Tally

MAX_LISTED = 20  # problems listed one by one; the rest are counted
MAX_INDEX = 2**63 - 1  # a log index as the gateway stores it (a signed 64-bit integer)
# Characters that would break a finding out of its line or reorder what a reader sees: C0 and
# C1 controls, line and paragraph separators, bidi marks, embeddings, overrides and isolates
# (Unicode TR #9; CVE-2021-42574). A tampered member name or value may hold any of them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# the C scanner under json.loads, without its per-call wrappers: a million lines per member
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def parse_line(line: bytes) -> Any:
    """One JSON value filling the whole line; ValueError if it is not exactly that."""
    text = line.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        value, end = _scan(text, 0)
    except StopIteration as exc:
        raise ValueError("not json") from exc
    except RecursionError as exc:  # arrays or objects nested beyond the interpreter's stack
        raise ValueError("json nested too deeply") from exc
    if end != len(text):
        raise ValueError("trailing bytes after the json value")
    return value


@dataclass
class Report:
    archive: Path
    problems: list[str] = field(default_factory=list)
    unlisted: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)
    filters: Filters | None = None
    checkpoint: Checkpoint | None = None
    signed_by: list[str] = field(default_factory=list)
    archive_keys: list[str] = field(default_factory=list)
    previous: Checkpoint | None = None
    handovers: list[str] = field(default_factory=list)  # key hand-overs followed, as lines
    handover_steps: list[tuple[str, str, int]] = field(default_factory=list)  # old, new, size
    export_record: ExportRecord | None = None  # set once it is proved in the checkpoint
    tally: Tally = field(default_factory=Tally)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unlisted

    def fail(self, message: str) -> None:
        """Add one finding; whatever the archive put into it is shown, never obeyed."""
        if len(self.problems) < MAX_LISTED:
            self.problems.append(one_line(message))
        else:
            self.unlisted += 1


def one_line(message: str) -> str:
    """`message` with each character that could split or reorder it written as `\\uXXXX`."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", message)


RecordSink = Callable[[int, dict[str, Any]], None]
"""Given (index, record) for each record proved included in a checkpoint a trusted key signed."""


def verify_archive(path: Path, trusted: list[VerifierKey],
                   previous_note: str | None = None, verified: RecordSink | None = None) -> Report:
    """Check everything in the archive at `path`; the report says what holds and what not.

    `verified`, when given, receives each record whose inclusion proof holds against a
    checkpoint signed by a trusted key named as its origin — only those (for reports).
    """
    run = _Run(Report(path), trusted, verified)
    try:
        for member in read_members(path):
            run.member(member)
    except VerifyError as exc:
        run.report.fail(f"archive unreadable: {exc}")
        return run.report
    run.finish(previous_note)
    return run.report


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise MalformedArchive(f"`{what}` is not valid json") from exc


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:  # a note or key: the caller names which
        raise MalformedNote("it is not utf-8 text") from exc


def _is_index(value: object) -> TypeGuard[int]:
    """A log index as json writes one: an integer, not `true` (a bool is an int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _hashes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise MalformedArchive(f"`{what}` is not a list of base64 hashes")
    out = []
    for item in value:
        try:
            raw = base64.b64decode(item, validate=True)
        except (TypeError, ValueError, binascii.Error) as exc:
            raise MalformedArchive(f"`{what}` holds a hash that is not base64") from exc
        if len(raw) != HASH_SIZE:
            raise MalformedArchive(f"`{what}` holds a hash that is not 32 bytes")
        out.append(raw)
    return out


class _Run:
    """State of one pass over the archive's members."""

    def __init__(self, report: Report, trusted: list[VerifierKey],
                 verified: RecordSink | None = None) -> None:
        self.report = report
        self.sink = verified
        self.trusted_checkpoint = False
        self.parsed: dict[int, dict[str, Any]] = {}  # by index, kept only for `sink`
        self.trusted = list(trusted)  # grows by the new key of each hand-over followed
        self.handovers: list[Handover] = []
        self.consistency: dict[str, Any] | None = None
        # per record line: its index (-1 when unreadable) and leaf hash, for the proof pass
        self.indices = array("q")
        self.leaves = bytearray()
        self.in_order = True
        self.proved = 0
        self.export_record: ExportRecord | None = None  # parsed, not yet proved
        self.export_leaf = b""

    def member(self, member: Member) -> None:
        handler = getattr(self, "_" + member.kind.replace(".", "_").replace("-", "_"))
        handler(member)

    # --- manifest, checkpoint, keys ---------------------------------------------------------
    def _manifest_json(self, member: Member) -> None:
        manifest = _json(member.read_small(), "manifest.json")
        found = manifest.get("format") if isinstance(manifest, dict) else None
        if not isinstance(found, str):
            raise MalformedArchive(f"`manifest.json` names no `format`: expected `{FORMAT}`")
        if found != FORMAT:
            raise MalformedArchive(f"archive format `{found}` is not supported: this verifier "
                                   f"reads `{FORMAT}`")
        self.report.manifest = manifest
        self.report.filters = Filters.from_manifest(manifest.get("filters"))

    def _handovers_jsonl(self, member: Member) -> None:
        for line_no, line in enumerate(member.lines(), start=1):
            try:
                doc = parse_line(line)
            except ValueError:
                doc = None
            found = follow(doc, self.trusted, line_no)
            if isinstance(found, str):
                self.report.fail(found)
            elif found is not None:
                self.handovers.append(found)
                self.trusted.append(found.new)

    def _checkpoint(self, member: Member) -> None:
        try:
            note = _utf8(member.read_small())
            check = check_note(note, self.trusted)
            checkpoint = parse_checkpoint(check.text)
        except MalformedNote as exc:
            raise MalformedArchive(f"`checkpoint` is not a signed checkpoint: {exc}") from exc
        problem = check.problem("checkpoint") or check.origin_problem(checkpoint.origin,
                                                                       "checkpoint")
        if problem:
            self.report.fail(problem)
        self.trusted_checkpoint = problem is None
        self.report.signed_by = check.verified_by
        self.report.checkpoint = checkpoint
        for handover in self.handovers:
            fork = fork_between(handover.checkpoint, checkpoint, handover.consistency)
            size = handover.checkpoint.size
            if fork:
                self.report.fail(f"hand-over at tree size {size:,} does not lead to the "
                                 f"checkpoint: {fork}")
                self.trusted_checkpoint = False
            else:
                self.report.handover_steps.append(
                    (label(handover.old), label(handover.new), size))
                self.report.handovers.append(
                    f"key handed over from `{label(handover.old)}` to `{label(handover.new)}` "
                    f"at tree size {size:,}, co-signed")
        manifest = self.report.manifest
        if manifest.get("origin") != checkpoint.origin:
            self.report.fail("manifest `origin` differs from the checkpoint's origin")
        if manifest.get("tree_size") != checkpoint.size:
            self.report.fail(f"manifest `tree_size` is {manifest.get('tree_size')}, the "
                             f"checkpoint's is {checkpoint.size}")

    def _keys(self, member: Member) -> None:
        try:
            key = parse_key(_utf8(member.read_small()))
        except (MalformedKey, MalformedNote) as exc:
            raise MalformedArchive(f"`{member.name}` is not a verifier key: {exc}") from exc
        if member.name != f"keys/{key.key_hash.hex()}.vkey":
            raise MalformedArchive(f"`{member.name}` is not named after its key hash")
        trusted = any(k.text == key.text for k in self.trusted)
        self.report.archive_keys.append(f"{key.text} ({'trusted' if trusted else 'NOT trusted'})")

    def _consistency_json(self, member: Member) -> None:
        doc = _json(member.read_small(), "consistency.json")
        if not isinstance(doc, dict) or not isinstance(doc.get("old_checkpoint"), str):
            raise MalformedArchive("`consistency.json` lacks `old_checkpoint`")
        self.consistency = doc

    # --- the export's own record -----------------------------------------------------------
    def _export_record_json(self, member: Member) -> None:
        report = self.report
        data = member.read_small()
        if not data.endswith(b"\n"):
            raise MalformedArchive("`export-record.json` does not end with a newline")
        self.export_leaf = leaf_hash(data[:-1])
        try:
            parsed = ExportRecord.parse(parse_line(data[:-1]))
        except ValueError:
            parsed = "it is not json"
        if isinstance(parsed, str):
            report.fail(f"export record was modified: {parsed}")
            return
        self.export_record = parsed
        for problem in parsed.manifest_mismatches(report.manifest):
            report.fail(problem)

    def _export_proof_json(self, member: Member) -> None:
        report, checkpoint, record = self.report, self.report.checkpoint, self.export_record
        if checkpoint is None or not self.export_leaf:
            raise MalformedArchive("`export-proof.json` comes before the checkpoint or record")
        proof = _json(member.read_small(), "export-proof.json")
        index = proof.get("index") if isinstance(proof, dict) else None
        hashes = proof.get("hashes") if isinstance(proof, dict) else None
        if not _is_index(index) or not isinstance(hashes, list):
            raise MalformedArchive("`export-proof.json` is not a proof")
        if record is None:
            return  # already reported: nothing to pin the selection to
        if index != record.index:
            report.fail(f"export record was modified: it holds index {record.index}, its "
                        f"proof is for index {index}")
        elif not InclusionChecker(checkpoint.size, checkpoint.root).check(
                index, self.export_leaf, hashes):
            what = "beyond the checkpoint's tree size" if index >= checkpoint.size else \
                "not the record the checkpoint's tree holds at that index"
            report.fail(f"export record at index {index} was modified: it is {what}")
        else:
            report.export_record = record

    # --- records and proofs -----------------------------------------------------------------
    def _records_jsonl(self, member: Member) -> None:
        report, tally = self.report, self.report.tally
        checkpoint, filters = report.checkpoint, report.filters
        if checkpoint is None or filters is None:
            raise MalformedArchive("`records.jsonl` comes before the manifest or checkpoint")
        covers = None if report.export_record is None else report.export_record.covers_tree_size
        previous = -1
        for line_no, line in enumerate(member.lines(), start=1):
            self.leaves += leaf_hash(line)
            try:
                record = parse_line(line)
            except ValueError:
                record = None
            index = record.get("index") if isinstance(record, dict) else None
            if not _is_index(index) or index < 0:
                report.fail(f"record on line {line_no} of `records.jsonl` was modified: it is "
                            "not a json object with an `index`")
                self.indices.append(-1)
                continue
            if index > MAX_INDEX:  # no log grows that far; `indices` holds 64-bit integers
                report.fail(f"record on line {line_no} of `records.jsonl` was modified: its "
                            "`index` is beyond the size of any log")
                self.indices.append(-1)
                continue
            self.indices.append(index)
            if index <= previous:
                self.in_order = False
                report.fail(f"records reordered: index {index} follows index {previous} "
                            f"(line {line_no} of `records.jsonl`)")
            previous = max(previous, index)
            if index >= checkpoint.size:
                report.fail(f"record added that the checkpoint does not cover: index {index} "
                            f"is beyond tree size {checkpoint.size}")
            elif covers is not None and index >= covers:
                report.fail(f"record added that the export does not cover: index {index} is "
                            f"not below the covered tree size {covers} of the export record")
            outside = filters.violation(record)
            if outside:
                report.fail(f"record at index {index} is outside the declared filters: "
                            f"{outside}")
            tally.add(index, record)
            if self.sink is not None:
                self.parsed[index] = record

    def _proofs_jsonl(self, member: Member) -> None:
        report, checkpoint = self.report, self.report.checkpoint
        if checkpoint is None:  # members out of order are refused only once they are seen
            raise MalformedArchive("`proofs.jsonl` comes before the checkpoint")
        checker = InclusionChecker(checkpoint.size, checkpoint.root)
        indices, leaves = self.indices, self.leaves
        n = len(indices)
        at = 0  # next record line to pair with a proof
        for line_no, line in enumerate(member.lines(), start=1):
            try:
                proof = parse_line(line)
                index, hashes = proof["index"], proof["hashes"]
            except (ValueError, TypeError, KeyError):
                raise MalformedArchive(f"line {line_no} of `proofs.jsonl` is not a proof")
            if not _is_index(index) or not isinstance(hashes, list):
                raise MalformedArchive(f"line {line_no} of `proofs.jsonl` is not a proof")
            if at < n and indices[at] < 0:  # an unreadable record: its proof names the index
                pass
            elif self.in_order:  # pair by index: a gap on either side names what is missing
                while at < n and 0 <= indices[at] < index:
                    report.fail(f"record at index {indices[at]} has no inclusion proof")
                    at += 1
                if at >= n or indices[at] != index:
                    report.fail(f"record removed: the proof for index {index} has no record")
                    continue
            elif at >= n:
                report.fail(f"record removed: the proof for index {index} has no record")
                continue
            elif indices[at] != index:  # reordered: pair by line, report the mismatch
                report.fail(f"proof on line {line_no} is for index {index}, its record "
                            f"holds index {indices[at]}")
                at += 1
                continue
            leaf = bytes(leaves[at * HASH_SIZE : (at + 1) * HASH_SIZE])
            at += 1
            if checker.check(index, leaf, hashes):
                self.proved += 1
                record = self.parsed.pop(index, None)
                if record is not None and self.sink is not None and self.trusted_checkpoint:
                    self.sink(index, record)
            elif index >= checkpoint.size:
                pass  # already reported as added after the checkpoint
            else:
                report.fail(f"record at index {index} was modified: it is not the record the "
                            "checkpoint's tree holds at that index")
        for rest in range(at, n):
            label = f"index {indices[rest]}" if indices[rest] >= 0 else f"line {rest + 1}"
            report.fail(f"record at {label} has no inclusion proof")

    # --- after the last member --------------------------------------------------------------
    def finish(self, previous_note: str | None) -> None:
        self._check_manifest()
        self._check_selection()
        self._check_consistency(previous_note)

    def _check_selection(self) -> None:
        """The records are exactly those the proved export record logged as selected."""
        report, record = self.report, self.report.export_record
        if record is None:
            report.fail("selection cannot be checked: the archive has no valid export record "
                        "proved in the checkpoint")
            return
        present = len(self.indices)
        if record.selected != present:
            report.fail(f"selection does not match the logged export record: {record.selected} "
                        f"records expected, {present} present")
        elif selection_digest(self.leaves, present) != record.digest:
            report.fail("selection does not match the logged export record: the records are "
                        "not the ones whose digest it logged")

    def _check_manifest(self) -> None:
        report, manifest, tally = self.report, self.report.manifest, self.report.tally
        declared = manifest.get("records")
        actual = tally.records()
        count = len(self.indices)
        if not isinstance(declared, dict):
            report.fail("manifest `records` is missing")
        elif declared.get("count") != count:
            what = "removed" if isinstance(declared.get("count"), int) and \
                declared["count"] > count else "added"
            report.fail(f"record {what}: the manifest declares {declared.get('count')} "
                        f"records, the archive holds {count}")
        else:
            for name in ("first_index", "last_index", "first_time", "last_time"):
                if declared.get(name) != actual[name]:
                    report.fail(f"manifest `records.{name}` is {declared.get(name)}, the "
                                f"records say {actual[name]}")
        counts = manifest.get("counts")
        if not isinstance(counts, dict):
            report.fail("manifest `counts` is missing")
            return
        for name, value in tally.counts().items():
            if counts.get(name) != value:
                report.fail(f"manifest count wrong: `counts.{name}` is "
                            f"{json.dumps(counts.get(name), sort_keys=True)}, the records "
                            f"hold {json.dumps(value, sort_keys=True)}")

    def _check_consistency(self, previous_note: str | None) -> None:
        report, checkpoint = self.report, self.report.checkpoint
        if checkpoint is None:
            return
        declared = report.manifest.get("previous_checkpoint")
        old: Checkpoint | None = None
        if self.consistency is not None:
            old = self._archived_consistency(self.consistency, checkpoint)
            report.previous = old
        want = None if old is None else {"root": base64.b64encode(old.root).decode(),
                                         "size": old.size}
        if declared != want:
            report.fail("manifest `previous_checkpoint` differs from `consistency.json`")
        if previous_note is not None:
            self._given_previous(previous_note, checkpoint, old)

    def _archived_consistency(self, doc: dict[str, Any], new: Checkpoint) -> Checkpoint | None:
        report = self.report
        try:
            check = check_note(doc["old_checkpoint"], self.trusted)
            old = parse_checkpoint(check.text)
        except MalformedNote as exc:
            report.fail(f"previous checkpoint in `consistency.json` is malformed: {exc}")
            return None
        what = "previous checkpoint in `consistency.json`"
        problem = check.problem(what) or check.origin_problem(old.origin, what)
        if problem:
            report.fail(problem)
        try:
            proof = _hashes(doc.get("hashes"), "consistency.json` `hashes")
        except MalformedArchive as exc:
            report.fail(str(exc))
            return old
        if doc.get("old_size") != old.size or doc.get("new_size") != new.size:
            report.fail("`consistency.json` sizes differ from its checkpoints")
        fork = fork_between(old, new, proof)
        if fork:
            report.fail(fork)
        return old

    def _given_previous(self, note: str, new: Checkpoint, archived: Checkpoint | None) -> None:
        report = self.report
        try:
            check = check_note(note, self.trusted)
            given = parse_checkpoint(check.text)
        except MalformedNote as exc:
            report.fail(f"the given previous checkpoint is malformed: {exc}")
            return
        what = "the given previous checkpoint"
        problem = check.problem(what) or check.origin_problem(given.origin, what)
        if problem:
            report.fail(problem)
        if given.size == new.size or (given.size > new.size):
            fork = fork_between(given, new, [])
            if fork:
                report.fail(fork)
        elif archived is None:
            report.fail(f"no consistency proof from the previous checkpoint (size {given.size}) "
                        "in the archive")
        elif archived.size != given.size:
            report.fail(f"the archive proves consistency from size {archived.size}, not from "
                        f"the given previous checkpoint of size {given.size}")
        elif archived.root != given.root or archived.origin != given.origin:
            report.fail(f"fork: the given previous checkpoint and the archive's disagree on the "
                        f"tree of size {given.size}")


def fork_between(old: Checkpoint, new: Checkpoint, proof: list[bytes]) -> str | None:
    """None when `old` is a prefix of `new` by `proof`; else one line saying it is a fork."""
    if old.origin != new.origin:
        return f"checkpoints are of different logs: `{old.origin}` and `{new.origin}`"
    if old.size == new.size and old.root != new.root:
        return f"fork: two checkpoints of size {old.size} with different root hashes"
    if old.size > new.size:
        return (f"fork: the new checkpoint (size {new.size}) is smaller than the previous one "
                f"(size {old.size})")
    if not verify_consistency(old.size, new.size, proof, old.root, new.root):
        return (f"fork: the tree of size {old.size} is not a prefix of the tree of size "
                f"{new.size} (consistency proof fails)")
    return None


def load_trusted(keys: list[str], key_files: list[Path]) -> list[VerifierKey]:
    """Parse keys given inline and in files (one per line, `#` comments); raise on any bad one."""
    texts = list(keys)
    for path in key_files:
        try:
            content = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MalformedKey(f"cannot read key file `{path}`") from exc
        texts += [ln.strip() for ln in content.splitlines()
                  if ln.strip() and not ln.lstrip().startswith("#")]
    return [parse_key(t) for t in texts]
