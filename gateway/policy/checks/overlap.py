"""Two rules granting the same attribute to the same recipient, purpose and system must agree.

The decision takes the union of every matching rule's views, so a second, disagreeing rule
silently widens (or seems to narrow) the first: an officer reading one rule would be misled.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

from gateway.policy.checks.codes import DUPLICATE_GRANT, RULES_DISAGREE, RULES_DISAGREE_SYSTEMS
from gateway.policy.model import Rule

if TYPE_CHECKING:
    from gateway.policy.checks import Context


def _systems_overlap(a: Rule, b: Rule) -> bool:
    return a.systems is None or b.systems is None or bool(a.systems & b.systems)


def _views(views: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"`{v}`" for v in views) + "]"


def check(ctx: Context) -> None:
    for first, second in combinations(ctx.policy.rules, 2):
        if (first.recipient, first.purpose) != (second.recipient, second.purpose):
            continue
        if not _systems_overlap(first, second):
            continue
        for attr_id in second.attributes:
            if attr_id not in first.attributes:
                continue
            params = {"first": first.id, "second": second.id, "attribute": attr_id,
                      "recipient": second.recipient, "purpose": second.purpose}
            where = ctx.rule_path(second.id) + ("attributes", attr_id)
            views_a, views_b = first.attributes[attr_id], second.attributes[attr_id]
            if set(views_a) != set(views_b):
                ctx.report("rules.yaml", where, RULES_DISAGREE, views_first=_views(views_a),
                           views_second=_views(views_b), **params)
            elif first.systems != second.systems:
                ctx.report("rules.yaml", where, RULES_DISAGREE_SYSTEMS, **params)
            else:
                ctx.report("rules.yaml", where, DUPLICATE_GRANT, **params)
