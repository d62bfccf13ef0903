"""`released.value` in /openapi.json describes what every view actually releases."""

from __future__ import annotations

from datetime import date
from typing import Any

import jsonschema
import pytest

from gateway.api.schemas import RELEASED_VALUE_SCHEMA
from gateway.policy.views.boolean import BooleanView
from gateway.policy.views.bucketed import BucketedView
from gateway.policy.views.exact import ExactView
from gateway.policy.views.generalized import GeneralizedView
from gateway.policy.views.masked import MaskedView
from gateway.policy.views.topk import TopKView
from gateway.policy.views.scrubbed import ScrubbedView

TODAY = date(2026, 12, 5)
SPENDING = [{"category": "여행", "amount": 120_000}, {"category": "식비", "amount": 80_000}]


@pytest.mark.parametrize(("view", "value"), [
    (BooleanView(when="positive"), 12_000_000),
    (BucketedView(bounds=(1_000_000, 5_000_000)), 3_000_000),
    (BucketedView(bounds=(1_000_000,)), 10),  # an open band: `gte` is null
    (GeneralizedView(level="age_band"), date(1990, 1, 1)),
    (GeneralizedView(level="birth_year"), date(1990, 1, 1)),
    (GeneralizedView(level="sigungu"), "서울특별시 강남구 테헤란로 1"),
    (MaskedView(style="name"), "김민준"),
    (MaskedView(style="phone"), "010-1234-5678"),
    (TopKView(k=1, field="category", by="amount"), SPENDING),
    (ScrubbedView(), "고객이 주소 변경을 요청함"),
    (ExactView(), "서울특별시"),
    (ExactView(), 42),
    (ExactView(), 1.5),
    (ExactView(), date(2026, 1, 2)),  # an ISO date text
    (ExactView(), SPENDING),
    (ExactView(), {"grade": 3}),
    (ExactView(), None),
])
def test_every_view_output_fits_the_published_schema(view: Any, value: Any) -> None:
    released = view.apply(value, today=TODAY) if value is not None else None
    jsonschema.validate(released, RELEASED_VALUE_SCHEMA,
                        cls=jsonschema.Draft202012Validator)


def test_the_schema_is_published_for_the_query_answer(gw: Any) -> None:
    schema = gw.client.get("/openapi.json").json()
    value = schema["components"]["schemas"]["ReleasedOut"]["properties"]["value"]
    assert value["anyOf"] == RELEASED_VALUE_SCHEMA["anyOf"]
    assert "bucketed" in value["description"]
