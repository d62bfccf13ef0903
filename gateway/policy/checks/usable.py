"""Warn about rules no system can use: the recipient has no system with `query`, or a system
the rule names lacks it (the API refuses such a caller before any rule is read)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.policy.checks.codes import RULE_UNUSABLE, SYSTEM_CANNOT_QUERY

if TYPE_CHECKING:
    from gateway.policy.checks import Context

QUERY = "query"


def check(ctx: Context) -> None:
    if not ctx.complete:
        return  # a system left out for a bad key would look like a missing one
    policy = ctx.policy
    for rule in policy.rules:
        affiliate = policy.affiliates.get(rule.recipient)
        if affiliate is None:
            continue
        named = sorted(rule.systems) if rule.systems is not None else sorted(affiliate.systems)
        usable = [s for s in named if s in policy.systems and QUERY in policy.systems[s].permissions]
        if not usable:
            ctx.report("rules.yaml", ctx.rule_path(rule.id) + ("id",), RULE_UNUSABLE,
                       rule=rule.id, recipient=rule.recipient)
            continue
        if rule.systems is None:
            continue
        for system in named:
            if system not in usable:
                ctx.report("rules.yaml", ctx.rule_system_path(rule.id, system),
                           SYSTEM_CANNOT_QUERY, system=system, rule=rule.id)
