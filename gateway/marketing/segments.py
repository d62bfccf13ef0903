"""Campaign segments: filters in the policy's attribute vocabulary, checked and matched.

A filter names an attribute, one of its views the policy lets the recipient filter on for the
purpose (rules.yaml `segments:`), and the values wanted in that view: holds / does not hold a
product (`has_card: [false]`), a band (`{"gte": 40000000, "lt": 60000000}`), an age group
(`"30-39"`), a 시/도 (`"서울특별시"`). Filters are ANDed; a customer matches a filter when the
attribute's value, shaped in that view, is one of the values. A yes/no view answers "no" for a
customer the owning affiliate does not hold (does not hold the product). Filtering is a use of
data (issue #10): the values are never released unless a rule releases them.

Errors never echo what was sent: they name the attribute and view only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.domain import AffiliateId, AttributeId, PurposeId, SystemId, ViewName
from gateway.errors import ValidationFailed
from gateway.policy.model import Attribute, Policy
from gateway.policy.views.boolean import BooleanView
from gateway.policy.views.bucketed import BucketedView
from gateway.policy.views.generalized import DEFAULT_AGE_BAND_WIDTH, GeneralizedView

SIDO = frozenset({
    "서울특별시", "부산광역시", "대구광역시", "인천광역시", "광주광역시", "대전광역시", "울산광역시",
    "세종특별자치시", "경기도", "강원특별자치도", "충청북도", "충청남도", "전북특별자치도",
    "전라남도", "경상북도", "경상남도", "제주특별자치도",
})  # 17 시/도 (행정안전부 행정구역; 강원·전북 특별자치도 2023·2024)
MAX_VALUES = 64
_AGE_BAND = re.compile(r"(\d{1,3})-(\d{1,3})")


class SegmentNotPermitted(ValidationFailed):
    type_slug = "segment-not-permitted"
    title = "the recipient may not filter on this attribute for this purpose"


class SegmentValueMalformed(ValidationFailed):
    type_slug = "segment-value-malformed"
    title = "a segment value is not one the view can produce"


@dataclass(frozen=True, slots=True)
class Filter:
    attribute: AttributeId
    view: ViewName
    values: tuple[Any, ...]  # as the view produces them (bool, band dict, str, int)

    def as_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "view": self.view, "in": list(self.values)}


def checked_segment(policy: Policy, recipient: AffiliateId, system: SystemId,
                    purpose: PurposeId, raw: Sequence[Mapping[str, Any]]) -> tuple[Filter, ...]:
    """The filters, each permitted by the policy and with values its view can produce."""
    allowed = policy.filterable(recipient, system, purpose)
    filters: list[Filter] = []
    for item in raw:
        attribute_id = AttributeId(str(item.get("attribute")))
        view = ViewName(str(item.get("view")))
        if view not in allowed.get(attribute_id, ()):
            raise SegmentNotPermitted(
                f"segment filter {len(filters) + 1}: not a filter the policy allows "
                f"`{recipient}` for `{purpose}`")
        values = item.get("in")
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
            raise SegmentValueMalformed(f"segment filter on `{attribute_id}` `{view}`: `in` "
                                        f"must list 1 to {MAX_VALUES} values")
        attribute = policy.attributes[attribute_id]
        filters.append(Filter(attribute_id, view,
                              tuple(_checked_value(attribute, view, v) for v in values)))
    return tuple(filters)


def _checked_value(attribute: Attribute, view_name: ViewName, value: Any) -> Any:
    view = attribute.views[view_name]
    bad = SegmentValueMalformed(f"segment filter on `{attribute.id}` `{view_name}`: a value is "
                                "not one this view produces")
    if isinstance(view, BooleanView):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(view, BucketedView):
        bands = _bands(view)
        if not isinstance(value, dict) or set(value) != {"gte", "lt"}:
            raise bad
        band = (value["gte"], value["lt"])
        if any(isinstance(v, bool) for v in band) or band not in bands:
            raise bad
        return {"gte": band[0], "lt": band[1]}
    if isinstance(view, GeneralizedView):
        if view.level == "age_band":
            width = view.width or DEFAULT_AGE_BAND_WIDTH
            match = _AGE_BAND.fullmatch(value) if isinstance(value, str) else None
            if match is None:
                raise bad
            lower, upper = int(match[1]), int(match[2])
            if lower % width or upper != lower + width - 1:
                raise bad
            return value
        if view.level == "birth_year":
            if isinstance(value, bool) or not isinstance(value, int) or not 1900 <= value <= 2100:
                raise bad
            return value
        if view.level == "sido":
            if value not in SIDO:
                raise bad
            return value
        if isinstance(value, str) and value.split() and value.split()[0] in SIDO \
                and len(value) <= 64:
            return value
        raise bad
    raise bad  # the loader allows no other kind in `segments:`


def _bands(view: BucketedView) -> set[tuple[Any, Any]]:
    bounds: list[Any] = [None, *view.bounds, None]
    return {(lo, hi) for lo, hi in zip(bounds, bounds[1:])}


def matches(policy: Policy, filters: Sequence[Filter], values: Mapping[AttributeId, Any],
            today: date) -> bool:
    """Whether a customer's raw values match every filter (shaped in each filter's view)."""
    for f in filters:
        attribute = policy.attributes[f.attribute]
        raw = values.get(f.attribute)
        view = attribute.views[f.view]
        if raw is None and not view.accepts_none:
            if isinstance(view, BooleanView):
                shaped: Any = False  # not held by the owning affiliate: does not hold it
            else:
                return False
        else:
            try:
                shaped = attribute.apply_view(f.view, raw, today=today)
            except ValueError:
                return False  # a value the view cannot shape matches nothing (never released)
        if shaped not in f.values:
            return False
    return True
