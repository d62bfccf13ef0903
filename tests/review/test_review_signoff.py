"""Sign-off: a `review.signoff` record naming the digest; national ids in free text refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from gateway.accesslog import AccessLog
from gateway.accesslog.bulk import bulk_append
from gateway.freetext import NationalIdInText
from gateway.policy import Policy
from gateway.review import build_review
from gateway.review.signoff import ReviewChanged, SignOffInvalid, signoff_record

from .conftest import AS_OF, MONTH

RRN_TEXT = "고객 900101-1234567 건 확인"  # synthetic, check digit valid


@pytest.fixture
def review_log(policy: Policy, engine: Engine, access_log: AccessLog,
               demo_month: list[dict[str, object]]) -> AccessLog:
    bulk_append(engine, demo_month[-3000:], create_tables=False)
    return access_log


def test_signoff_is_a_log_record_naming_the_digest(policy: Policy, engine: Engine,
                                                   review_log: AccessLog) -> None:
    as_of = datetime.fromisoformat(AS_OF)
    review = build_review(engine, policy, MONTH, as_of=as_of)
    entry = signoff_record(review, reviewer="홍길동 고객정보관리인", comment="특이 직원 소명 요청",
                           now=datetime.now(UTC), expected_digest=review.digest)
    index = review_log.append(entry)
    stored = json.loads(review_log.record(index))
    assert stored["kind"] == "review.signoff" and stored["index"] == index
    assert (stored["month"], stored["digest"], stored["tree_size"], stored["as_of"]) == \
        (str(MONTH), review.digest, review.tree_size, review.as_of)
    assert stored["reviewer"] == "홍길동 고객정보관리인"
    # the sign-off shows beside the review, and the signed review is unchanged by it
    again = build_review(engine, policy, MONTH, as_of=as_of, tree_size=review.tree_size)
    after = build_review(engine, policy, MONTH, as_of=as_of)
    assert again.digest == review.digest
    assert [s["digest"] for s in after.signoffs] == [review.digest]
    assert after.content["accesses"] == review.content["accesses"]


@pytest.mark.parametrize(("reviewer", "comment"), [
    ("홍길동", RRN_TEXT),  # in the comment
    ("홍길동 9001011234567", "확인"),  # in the reviewer, without the hyphen
])
def test_signoff_with_a_national_id_is_refused_and_not_written(
        policy: Policy, engine: Engine, review_log: AccessLog, reviewer: str,
        comment: str) -> None:
    review = build_review(engine, policy, MONTH)
    size = review_log.size()
    with pytest.raises(NationalIdInText, match="national id") as caught:
        signoff_record(review, reviewer=reviewer, comment=comment, now=datetime.now(UTC))
    assert "900101" not in str(caught.value)
    assert review_log.size() == size


@pytest.mark.parametrize(("reviewer", "comment", "error", "match"), [
    ("", "확인", SignOffInvalid, "`reviewer`"),  # nobody
    ("홍길동", "   ", SignOffInvalid, "`comment`"),  # blank comment
    ("홍길동", "x" * 2001, SignOffInvalid, "`comment`"),  # too long
])
def test_signoff_needs_a_reviewer_and_a_comment(policy: Policy, engine: Engine,
                                                review_log: AccessLog, reviewer: str,
                                                comment: str, error: type[Exception],
                                                match: str) -> None:
    review = build_review(engine, policy, MONTH)
    with pytest.raises(error, match=match):
        signoff_record(review, reviewer=reviewer, comment=comment, now=datetime.now(UTC))


def test_signoff_of_a_review_that_changed_is_refused(policy: Policy, engine: Engine,
                                                     review_log: AccessLog) -> None:
    review = build_review(engine, policy, MONTH)
    with pytest.raises(ReviewChanged, match="reload"):
        signoff_record(review, reviewer="홍길동", comment="확인", now=datetime.now(UTC),
                       expected_digest="sha256:" + "0" * 64)
