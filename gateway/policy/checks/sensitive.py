"""A sensitive attribute is released only under a purpose that requires consent, and never
exact for marketing.

개인정보 보호법 제23조: sensitive data (health, among others) needs the customer's separate,
explicit consent. The decision asks for a consent naming the `sensitive` category whatever the
purpose; a rule granting it under a no-consent purpose says otherwise, so it is refused.
Marketing (제22조, 정보통신망법 제50조) never needs a health record as it is: released exact
under a marketing purpose it is refused (제3조 ①: the minimum necessary); in any other view it
is flagged as a warning, for the officer to confirm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.domain import Category
from gateway.policy.checks.codes import (
    SENSITIVE_EXACT_MARKETING,
    SENSITIVE_UNDER_MARKETING,
    SENSITIVE_WITHOUT_CONSENT,
)
from gateway.policy.views import ExactView

if TYPE_CHECKING:
    from gateway.policy.checks import Context


def check(ctx: Context) -> None:
    policy = ctx.policy
    for rule in policy.rules:
        purpose = policy.purposes.get(rule.purpose)
        if purpose is None or purpose.consent_required:
            continue
        for attr_id in rule.attributes:
            attribute = policy.attributes.get(attr_id)
            if attribute is not None and attribute.category is Category.SENSITIVE:
                ctx.report("rules.yaml", ctx.rule_path(rule.id) + ("attributes", attr_id),
                           SENSITIVE_WITHOUT_CONSENT, attribute=attr_id, purpose=purpose.id)


def check_marketing(ctx: Context) -> None:
    policy = ctx.policy
    for rule in policy.rules:
        purpose = policy.purposes.get(rule.purpose)
        if purpose is None or not purpose.marketing:
            continue
        for attr_id, views in rule.attributes.items():
            attribute = policy.attributes.get(attr_id)
            if attribute is None or attribute.category is not Category.SENSITIVE:
                continue
            where = ctx.rule_path(rule.id) + ("attributes", attr_id)
            for view_name in views:
                code = (SENSITIVE_EXACT_MARKETING
                        if isinstance(attribute.views.get(view_name), ExactView)
                        else SENSITIVE_UNDER_MARKETING)
                ctx.report("rules.yaml", where, code, attribute=attr_id, view=view_name,
                           purpose=purpose.id)
