"""Check a saved access history (`gateway-access-history/v1`) offline, against a trusted key.

A customer channel saves the JSON of `POST /v1/customers/access-history` (or
`gateway customer history --format json`). This checks, with the standard library and
`cryptography` only:
- the checkpoint is signed by a trusted log key named after its origin (C2SP signed note) and
  matches the file's `origin` and `tree_size`;
- every entry's `record` (the access record exactly as hashed) is in that tree at its
  `log_index`, by its RFC 9162 inclusion proof; the record holds that index; all entries
  concern one customer; entries come newest first;
- what each entry says (kind, time, affiliate, system, purpose, released and withheld items,
  consents, use-by) is what its record holds — the names beside the ids are the policy's and
  are not checked;
- each campaign's closing record is in the tree at its index, and the customer's leaf is in
  the campaign's Merkle tree under the closing record's root (docs/CAMPAIGN-COMMITMENT.md),
  naming the same customer;
- the hidden counts add up.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from gateway_verify.campaign import MalformedCampaignProof, verify_campaign_inclusion
from gateway_verify.errors import MalformedNote
from gateway_verify.merkle import inclusion_root, leaf_hash
from gateway_verify.note import VerifierKey, check_note, parse_checkpoint

FORMAT = "gateway-access-history/v1"


@dataclass
class HistoryReport:
    findings: list[str] = field(default_factory=list)
    origin: str = ""
    tree_size: int = 0
    entries: int = 0
    campaigns: int = 0
    hidden: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_history(data: bytes, trusted: list[VerifierKey]) -> HistoryReport:
    report = HistoryReport()
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        report.findings.append("the history file is not json")
        return report
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        report.findings.append(f"the history file is not a `{FORMAT}` document")
        return report
    root = _checkpoint(doc, trusted, report)
    if root is None:
        return report
    customers = set()
    previous: int | None = None
    entries = doc.get("entries")
    if not isinstance(entries, list):
        report.findings.append("the history file has no list of `entries`")
        return report
    for entry in entries:
        customer = _entry(entry, root, report)
        if customer is not None:
            customers.add(customer)
        index = entry.get("log_index") if isinstance(entry, dict) else None
        if isinstance(index, int) and previous is not None and index >= previous:
            report.findings.append(f"entries out of order: index {index:,} follows index "
                                   f"{previous:,}")
        if isinstance(index, int):
            previous = index
    if len(customers) > 1:
        report.findings.append("the entries concern more than one customer")
    for campaign in doc.get("campaigns") or []:
        _campaign(campaign, root, customers, report)
    hidden = doc.get("hidden") or []
    try:
        report.hidden = sum(int(h["count"]) for h in hidden)
    except (KeyError, TypeError, ValueError):
        report.findings.append("`hidden` is not a list of counts")
    else:
        if report.hidden != doc.get("hidden_total"):
            report.findings.append("the hidden counts do not add up to `hidden_total`")
    report.entries = len(entries)
    report.campaigns = len(doc.get("campaigns") or [])
    return report


def _checkpoint(doc: dict[str, Any], trusted: list[VerifierKey],
                report: HistoryReport) -> tuple[int, bytes] | None:
    """(tree size, root) of the file's checkpoint, if it is signed by a trusted key."""
    try:
        check = check_note(str(doc.get("checkpoint", "")), trusted)
        checkpoint = parse_checkpoint(check.text)
    except MalformedNote as exc:
        report.findings.append(f"checkpoint is malformed: {exc}")
        return None
    problem = check.problem("checkpoint") or check.origin_problem(checkpoint.origin,
                                                                  "checkpoint")
    if problem:
        report.findings.append(problem)
        return None
    report.origin, report.tree_size = checkpoint.origin, checkpoint.size
    if doc.get("origin") != checkpoint.origin or doc.get("tree_size") != checkpoint.size:
        report.findings.append("the history's `origin` or `tree_size` differs from its "
                               "checkpoint's")
    return checkpoint.size, checkpoint.root


def _hashes(value: Any) -> list[bytes] | None:
    if not isinstance(value, list):
        return None
    try:
        hashes = [base64.b64decode(h, validate=True) for h in value]
    except (TypeError, ValueError, binascii.Error):
        return None
    return hashes if all(len(h) == 32 for h in hashes) else None


def _in_tree(record: bytes, index: int, proof: list[bytes], tree: tuple[int, bytes]) -> bool:
    size, root = tree
    return 0 <= index < size and inclusion_root(leaf_hash(record), index, size, proof) == root


def _entry(entry: Any, tree: tuple[int, bytes], report: HistoryReport) -> str | None:
    """The customer the entry concerns, once its record is proved; findings otherwise."""
    if not isinstance(entry, dict) or not isinstance(entry.get("log_index"), int) \
            or not isinstance(entry.get("record"), str):
        report.findings.append("an entry is malformed: it needs `log_index`, `record` and "
                               "`proof`")
        return None
    index = entry["log_index"]
    proof = _hashes(entry.get("proof"))
    data = entry["record"].encode("utf-8")
    if proof is None:
        report.findings.append(f"entry at index {index:,} is malformed: its proof is not a "
                               "list of base64 hashes")
        return None
    if index >= tree[0]:
        report.findings.append(f"entry at index {index:,} is beyond the checkpoint's tree size")
        return None
    if not _in_tree(data, index, proof, tree):
        report.findings.append(f"entry at index {index:,} was modified: it is not the record "
                               "the checkpoint's tree holds at that index")
        return None
    record = json.loads(data)
    if record.get("index") != index:
        report.findings.append(f"entry at index {index:,} was modified: its record holds "
                               f"another index")
    for name in _differences(entry, record):
        report.findings.append(f"entry at index {index:,} does not match its record: `{name}`")
    customer = record.get("customer")
    return customer if isinstance(customer, str) else None


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else None


def _differences(entry: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """The entry's fields that say something other than its record."""
    actor: dict[str, Any] = record["actor"] if isinstance(record.get("actor"), dict) else {}
    released = [r for r in record.get("released") or [] if isinstance(r, dict)]
    use_by = [r["use_by"] for r in released if isinstance(r.get("use_by"), str)]
    if isinstance(record.get("use_by"), str):
        use_by.append(record["use_by"])
    consents = record.get("consents")
    if not isinstance(consents, list):
        consents = [record["consent"]] if isinstance(record.get("consent"), str) else []
    expected = {
        "kind": (_id(entry.get("kind")), record.get("kind")),
        "time": (entry.get("time"), record.get("time") if isinstance(record.get("time"), str)
                 else None),
        "affiliate": (_id(entry.get("affiliate")), actor.get("affiliate")),
        "system": (_id(entry.get("system")), actor.get("system")),
        "purpose": (_id(entry.get("purpose")), record.get("purpose")
                    if isinstance(record.get("purpose"), str) else None),
        "released": ([(r.get("id"), _id(r.get("view"))) for r in entry.get("released") or []],
                     [(r.get("attribute"), r.get("view")) for r in released]),
        "withheld": ([(w.get("id"), _id(w.get("reason"))) for w in entry.get("withheld") or []],
                     [(w.get("attribute"), w.get("reason"))
                      for w in record.get("withheld") or [] if isinstance(w, dict)]),
        "consents": (entry.get("consents"), [str(c) for c in consents]),
        "use_by": (entry.get("use_by"), max(use_by) if use_by else None),
    }
    if record.get("kind") == "query":
        expected["outcome"] = (_id(entry.get("outcome")), record.get("decision"))
    return [name for name, (said, held) in expected.items() if said != held]


def _campaign(campaign: Any, tree: tuple[int, bytes], customers: set[str],
              report: HistoryReport) -> None:
    if not isinstance(campaign, dict):
        report.findings.append("a campaign is malformed")
        return
    name = str(campaign.get("campaign"))
    index = campaign.get("closing_index")
    proof = _hashes(campaign.get("closing_proof"))
    closing = campaign.get("closing_record")
    if not isinstance(index, int) or proof is None or not isinstance(closing, str):
        report.findings.append(f"campaign `{name}` is malformed: it needs `closing_index`, "
                               "`closing_record` and `closing_proof`")
        return
    data = closing.encode("utf-8")
    if not _in_tree(data, index, proof, tree):
        report.findings.append(f"campaign `{name}` was modified: its closing record is not the "
                               f"record the checkpoint's tree holds at index {index:,}")
        return
    if json.loads(data).get("campaign") != name:
        report.findings.append(f"campaign `{name}` was modified: its closing record is for "
                               "another campaign")
    try:
        result = verify_campaign_inclusion(data, str(campaign.get("leaf")).encode("utf-8"),
                                           int(campaign.get("leaf_index", -1)),
                                           list(campaign.get("leaf_proof") or []))
    except (MalformedCampaignProof, TypeError, ValueError) as exc:
        report.findings.append(f"campaign `{name}` inclusion does not hold: {exc}")
        return
    if not result.ok:
        report.findings.append(f"campaign `{name}` inclusion does not hold: {result.problem}")
    elif customers and result.customer_key not in customers:
        report.findings.append(f"campaign `{name}` leaf names another customer than the "
                               "history")


def summary(report: HistoryReport, lang: str) -> str:
    if lang == "ko":
        return (f"확인 완료: 내역 {report.entries:,}건, 캠페인 {report.campaigns:,}건, 법령에 따라 "
                f"표시하지 않은 {report.hidden:,}건 — 모든 내역이 `{report.origin}` 로그"
                f"(트리 크기 {report.tree_size:,})에 포함되어 있습니다")
    return (f"OK: {report.entries:,} entries, {report.campaigns:,} campaigns, {report.hidden:,} "
            f"hidden by policy; every entry is in the log `{report.origin}` at tree size "
            f"{report.tree_size:,}")
