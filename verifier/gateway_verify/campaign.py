"""Check one customer's inclusion in a campaign against the campaign's closing record.

docs/CAMPAIGN-COMMITMENT.md: the `campaign.close` access record holds `leaves_root` (hex), the
RFC 9162 Merkle root over one leaf per customer line sent, and `tree_size`. Given that record
(exactly as hashed in the log: its own inclusion in a signed checkpoint is checked like any
record of an export), a leaf (canonical JSON of {customer_key, pseudonym, fields, views}), the
leaf's index and its audit path, this says whether the customer was in the campaign as the leaf
says. Standard library only, like the rest of the verifier.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway_verify.errors import VerifyError
from gateway_verify.merkle import inclusion_root, leaf_hash


class MalformedCampaignProof(VerifyError):
    """The closing record, the leaf or the proof is not what CAMPAIGN-COMMITMENT.md says."""


@dataclass(frozen=True, slots=True)
class CampaignInclusion:
    ok: bool
    campaign: str
    customer_key: str
    pseudonym: str
    fields: tuple[str, ...]
    problem: str | None = None


def verify_campaign_inclusion(closing_record: bytes, leaf: bytes, index: int,
                              proof: Sequence[str]) -> CampaignInclusion:
    """Whether `leaf` is at `index` of the tree whose root the closing record holds."""
    record = _object(closing_record, "closing record")
    if record.get("kind") != "campaign.close":
        raise MalformedCampaignProof("the record is not a `campaign.close` record")
    try:
        root = bytes.fromhex(str(record["leaves_root"]))
        size = int(record["tree_size"])
        hashes = [bytes.fromhex(p) for p in proof]
    except (KeyError, ValueError, TypeError) as exc:
        raise MalformedCampaignProof(f"closing record or proof unreadable: "
                                     f"{type(exc).__name__}") from None
    member = _object(leaf, "leaf")
    if set(member) != {"customer_key", "pseudonym", "fields", "views"}:
        raise MalformedCampaignProof("the leaf must hold exactly customer_key, pseudonym, "
                                     "fields and views")
    result = CampaignInclusion(False, str(record.get("campaign")), str(member["customer_key"]),
                               str(member["pseudonym"]), tuple(member["fields"]))
    implied = inclusion_root(leaf_hash(leaf), index, size, hashes)
    if implied is None:
        return _with(result, f"the proof does not fit index {index} in a tree of {size}")
    if implied != root:
        return _with(result, "the proof leads to another root than the closing record's")
    return CampaignInclusion(True, result.campaign, result.customer_key, result.pseudonym,
                             result.fields)


def _with(result: CampaignInclusion, problem: str) -> CampaignInclusion:
    return CampaignInclusion(False, result.campaign, result.customer_key, result.pseudonym,
                             result.fields, problem)


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MalformedCampaignProof(f"the {what} is not json") from None
    if not isinstance(value, dict):
        raise MalformedCampaignProof(f"the {what} is not a json object")
    return value
