"""A sensitive attribute is released only under a purpose that requires consent.

개인정보 보호법 제23조: sensitive data (health, among others) needs the customer's separate,
explicit consent. The decision asks for a consent naming the `sensitive` category whatever the
purpose; a rule granting it under a no-consent purpose says otherwise, so it is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.domain import Category
from gateway.policy.checks.codes import SENSITIVE_WITHOUT_CONSENT

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
