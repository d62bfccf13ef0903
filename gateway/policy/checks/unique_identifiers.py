"""No rule releases a unique identifier in exact form, except for re-identification.

개인정보 보호법 제24조 (고유식별정보: 주민등록번호·여권번호·운전면허번호·외국인등록번호) and
제24조의2 (주민등록번호 처리의 제한); 신용정보법 제32조 on account and card numbers as
personal credit information. An attribute is a unique identifier when the catalogue marks it
`unique_identifier: true`; the RRN is one whatever the catalogue says (fail closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.policy.checks.codes import UNIQUE_ID_EXACT
from gateway.policy.views import ExactView

if TYPE_CHECKING:
    from gateway.policy.checks import Context

RRN_ATTRIBUTE = "rrn"


def check(ctx: Context) -> None:
    policy = ctx.policy
    for rule in policy.rules:
        purpose = policy.purposes.get(rule.purpose)
        if purpose is None:
            # Its purpose is declared but broken (reported there, and the set cannot load): whether
            # it re-identifies is unknown, so a correct rule is not blamed for the purpose's typo.
            continue
        if getattr(purpose, "reidentification", False):
            continue
        for attr_id, views in rule.attributes.items():
            attribute = policy.attributes.get(attr_id)
            unique = attr_id == RRN_ATTRIBUTE or bool(
                attribute is not None and getattr(attribute, "unique_identifier", False))
            if not unique:
                continue
            for view_name in views:
                view = attribute.views.get(view_name) if attribute is not None else None
                # A broken catalogue entry: only a view literally called `masked` is trusted.
                exact = isinstance(view, ExactView) if attribute is not None else (
                    view_name != "masked")
                if exact:
                    ctx.report("rules.yaml", ctx.rule_path(rule.id) + ("attributes", attr_id),
                               UNIQUE_ID_EXACT, attribute=attr_id, view=view_name,
                               purpose=rule.purpose)
