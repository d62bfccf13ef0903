"""The reviewer's sign-off: a `review.signoff` record in the access log naming the digest.

The record pins what was reviewed (month, digest, tree size, `as_of`): anyone holding the
same records can rebuild the review with those pins and compare digests. The reviewer's
name and comment are free text, refused when they hold a national id number
(`gateway.freetext`, 개인정보 보호법 제24조의2) and never stored then.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from gateway import record
from gateway.domain import Caller
from gateway.errors import GatewayError, ValidationFailed
from gateway.freetext import refuse_national_id
from gateway.review.aggregate import SIGNOFF_KIND
from gateway.review.report import Review

MAX_COMMENT = 2000
MAX_REVIEWER = 100


class SignOffInvalid(ValidationFailed):
    type_slug = "review-signoff"
    title = "review sign-off is invalid"


class ReviewChanged(GatewayError):
    status = 409
    type_slug = "review-changed"
    title = "the review changed since it was shown"


def signoff_fields(review: Review, *, reviewer: str, comment: str,
                   expected_digest: str | None = None) -> dict[str, Any]:
    """The record's own fields, checked: refuses an empty or national-id-bearing reviewer or
    comment, and a digest other than the review's (`ReviewChanged`: it was rebuilt
    differently from what the reviewer read)."""
    reviewer, comment = reviewer.strip(), comment.strip()
    if not reviewer or len(reviewer) > MAX_REVIEWER:
        raise SignOffInvalid(f"`reviewer` must be 1 to {MAX_REVIEWER} characters")
    if not comment or len(comment) > MAX_COMMENT:
        raise SignOffInvalid(f"`comment` must be 1 to {MAX_COMMENT} characters")
    refuse_national_id("reviewer", reviewer)
    refuse_national_id("comment", comment)
    if expected_digest is not None and expected_digest != review.digest:
        raise ReviewChanged("the review's digest differs from the one shown: reload the review")
    return {"month": review.month, "digest": review.digest, "tree_size": review.tree_size,
            "as_of": review.as_of, "reviewer": reviewer, "comment": comment}


def signoff_record(review: Review, *, reviewer: str, comment: str, now: datetime,
                   caller: Caller | None = None, expected_digest: str | None = None,
                   policy_version: str | None = None) -> dict[str, Any]:
    """The `review.signoff` record to append (see `signoff_fields` for what is refused)."""
    fields = signoff_fields(review, reviewer=reviewer, comment=comment,
                            expected_digest=expected_digest)
    return record.event_record(
        SIGNOFF_KIND, request_id=f"review-{uuid.uuid4()}", now=now, caller=caller,
        source=None if caller is None else caller.source, policy_version=policy_version,
        status=200, **fields)
