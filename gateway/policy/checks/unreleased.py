"""Warn about catalogue attributes no rule releases: dead entries, or a rule forgotten."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.policy.checks.codes import ATTRIBUTE_UNRELEASED

if TYPE_CHECKING:
    from gateway.policy.checks import Context


def check(ctx: Context) -> None:
    if not ctx.complete:
        return  # a rule left out for another problem would make its attributes look unused
    released = {a for rule in ctx.policy.rules for a in rule.attributes}
    for attr_id in ctx.policy.attributes:
        if attr_id not in released:
            path = ctx.paths.get("attribute", {}).get(attr_id, ())
            ctx.report("attributes.yaml", path + ("id",), ATTRIBUTE_UNRELEASED, attribute=attr_id)
