"""Flag a 금융지주회사법 제48조의2 purpose kept longer than 30 days without an approval.

금융지주회사법 제48조의2 lets affiliates share customer data for internal management without
consent; the recipient then keeps it at most a month unless an approval names a longer period.
A purpose citing it with `retention_days` above 30 and no `approval_ref` is flagged (P057); its
releases carry a use-by 30 days out until one is given (`gateway.rights.useby`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.policy.checks.codes import RETENTION_48_2_UNAPPROVED
from gateway.policy.model import RETENTION_48_2_DAYS

if TYPE_CHECKING:
    from gateway.policy.checks import Context


def check(ctx: Context) -> None:
    for purpose in ctx.policy.purposes.values():
        if purpose.cites_48_2 and purpose.retention_days > RETENTION_48_2_DAYS \
                and purpose.approval_ref is None:
            path = ctx.paths.get("purpose", {}).get(purpose.id, ())
            ctx.report("purposes.yaml", path + ("retention_days",), RETENTION_48_2_UNAPPROVED,
                       purpose=purpose.id, days=purpose.retention_days)
