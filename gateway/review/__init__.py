"""Monthly access review (개인정보의 안전성 확보조치 기준 제8조): aggregation, outliers, output.

    review = build_review(engine, policy, Month.parse("2026-11"))
    review.content   # the stable JSON document (schema `gateway.review/1`)
    review.digest    # sha256 over its canonical JSON: what a sign-off names
"""

from __future__ import annotations

from gateway.review.outliers import Thresholds
from gateway.review.period import Month, MonthInvalid
from gateway.review.report import Review, build_review

__all__ = ["Month", "MonthInvalid", "Review", "Thresholds", "build_review"]
