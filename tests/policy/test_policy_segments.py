"""`segments:` in rules.yaml: what a recipient may filter campaign candidates on, checked
strictly (P037–P039 and the reference codes), and the segment values a view can produce."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from gateway.domain import AffiliateId, AttributeId, PurposeId, SystemId, ViewName
from gateway.marketing.segments import (
    SegmentNotPermitted,
    SegmentValueMalformed,
    checked_segment,
)
from gateway.policy import Policy

if TYPE_CHECKING:
    from conftest import PolicySet

CARD_SEGMENT = ("      birth_date: age_band\n      address: sido\n      annual_income: band\n"
                "      card_products: has_card\n")


def test_shipped_segments(shipped_policy: Policy) -> None:
    card = shipped_policy.filterable(AffiliateId("card"), SystemId("card-marketing"),
                                     PurposeId("marketing_sms"))
    assert card[AttributeId("address")] == (ViewName("sido"),)
    assert AttributeId("credit_grade") not in card
    # another system of the recipient, or a purpose not listed: nothing to filter on
    assert shipped_policy.filterable(AffiliateId("card"), SystemId("card-risk"),
                                     PurposeId("marketing_sms")) == {}
    assert shipped_policy.filterable(AffiliateId("card"), SystemId("card-marketing"),
                                     PurposeId("marketing_phone")) == {}


@pytest.mark.parametrize(("new", "code", "fragment"), [
    ("      birth_date: exact\n", "P037", "view `exact` of `birth_date` cannot be filtered"),
    ("      mobile_phone: masked\n", "P037", "cannot be filtered on"),
    ("      birth_date: decade\n", "P024", "has no view `decade`"),
    ("      shoe_size: band\n", "P022", "unknown attribute `shoe_size`"),
])
def test_bad_segment_attributes(policy_set: PolicySet, new: str, code: str,
                                fragment: str) -> None:
    policy_set.edit("rules.yaml", CARD_SEGMENT, new + CARD_SEGMENT[len("      birth_date: age_band\n"):])
    problems = policy_set.problems()
    assert [p.code for p in problems] == [code], problems
    assert fragment in problems[0].message and problems[0].message_ko


def test_segment_purpose_must_be_marketing(policy_set: PolicySet) -> None:
    policy_set.edit("rules.yaml", "    purposes: [marketing_sms, marketing_email, marketing_push]\n",
                    "    purposes: [marketing_sms, credit_risk]\n")
    (problem,) = policy_set.problems()
    assert problem.code == "P038" and "`credit_risk`" in problem.message


def test_campaign_retention_under_48_2_is_at_most_30_days(policy_set: PolicySet) -> None:
    # a marketing purpose that (also) cites 금융지주회사법 제48조의2 keeps data 30 days at most
    policy_set.edit("purposes.yaml", "  - id: marketing_push\n", "  - id: marketing_push\n")
    text = policy_set.path("purposes.yaml").read_text("utf-8")
    start = text.index("  - id: marketing_push\n")
    block = text[start:]
    block = block.replace("    legal_basis:\n", "    legal_basis:\n      - 금융지주회사법 제48조의2 제1항\n", 1)
    policy_set.path("purposes.yaml").write_text(text[:start] + block, "utf-8")
    (problem,) = policy_set.problems()
    assert problem.code == "P039" and "at most 30, not 365" in problem.message
    assert "30일 이하" in problem.message_ko


def test_unknown_segment_field_and_duplicate_id(policy_set: PolicySet) -> None:
    policy_set.edit("rules.yaml", "  - id: securities-marketing-segments\n",
                    "  - id: card-marketing-segments\n")
    assert [p.code for p in policy_set.problems()] == ["P013"]


# --- values (pure) ------------------------------------------------------------------------------
def check(policy: Policy, *filters: dict[str, Any]) -> Any:
    return checked_segment(policy, AffiliateId("card"), SystemId("card-marketing"),
                           PurposeId("marketing_sms"), list(filters))


@pytest.mark.parametrize("value", [
    {"attribute": "address", "view": "sido", "in": ["서울특별시", "경기도"]},
    {"attribute": "birth_date", "view": "age_band", "in": ["30-39", "40-49"]},
    {"attribute": "annual_income", "view": "band", "in": [{"gte": 40000000, "lt": 60000000},
                                                          {"gte": 200000000, "lt": None}]},
    {"attribute": "card_products", "view": "has_card", "in": [False]},  # does not hold a card
])
def test_good_values(shipped_policy: Policy, value: dict[str, Any]) -> None:
    (f,) = check(shipped_policy, value)
    assert f.as_dict() == value


@pytest.mark.parametrize("value", [
    {"attribute": "address", "view": "sido", "in": ["서울"]},  # not a 시/도 name
    {"attribute": "birth_date", "view": "age_band", "in": ["35-44"]},  # not on a band edge
    {"attribute": "birth_date", "view": "age_band", "in": [35]},
    {"attribute": "annual_income", "view": "band", "in": [{"gte": 40000000, "lt": 50000000}]},
    {"attribute": "annual_income", "view": "band", "in": [{"gte": 40000000}]},
    {"attribute": "annual_income", "view": "band", "in": ["40000000-60000000"]},
    {"attribute": "card_products", "view": "has_card", "in": ["no"]},
    {"attribute": "card_products", "view": "has_card", "in": []},
])
def test_malformed_values(shipped_policy: Policy, value: dict[str, Any]) -> None:
    with pytest.raises(SegmentValueMalformed, match="segment filter on `") as info:
        check(shipped_policy, value)
    # the message names the attribute and view, never the value
    assert str(info.value).startswith(f"segment filter on `{value['attribute']}` "
                                      f"`{value['view']}`: ")
    assert not value["in"] or repr(value["in"][0]) not in str(info.value)


@pytest.mark.parametrize("value", [
    {"attribute": "credit_grade", "view": "band", "in": [{"gte": 1, "lt": 4}]},
    {"attribute": "address", "view": "sigungu", "in": ["서울특별시 중구"]},  # not this view
    {"attribute": "birth_date", "view": "exact", "in": ["1990-01-01"]},
])
def test_not_permitted(shipped_policy: Policy, value: dict[str, Any]) -> None:
    with pytest.raises(SegmentNotPermitted, match="not a filter the policy allows `card`"):
        check(shipped_policy, value)


def test_diff_reports_segment_changes(policy_set: PolicySet, shipped_policy: Policy) -> None:
    from gateway.policy.diff import diff_policies

    policy_set.edit("rules.yaml", "    systems: [securities-marketing]\n    attributes:\n"
                    "      birth_date: age_band\n      deposit_balance: band\n\n",
                    "    systems: [securities-marketing]\n    attributes:\n"
                    "      birth_date: age_band\n      deposit_balance: band\n"
                    "      annual_income: band\n\n")
    (change,) = [c for c in diff_policies(shipped_policy, policy_set.load()).conditions
                 if c.field == "filters"]
    assert change.subject == "segment `securities-marketing-segments`" and change.widening
    assert set(change.new) - set(change.old) == {
        f"securities/securities-marketing/{p}: annual_income.band"
        for p in ("marketing_phone", "marketing_email", "marketing_auto_call")}
