"""Frequency caps, the policy's part: which marketing contacts a decision makes, to be counted.

Issue #10: at most `cap.max` contacts per customer on a channel in any `cap.window_days`,
across all affiliates. A contact attribute (category `contact`) released under a marketing
purpose whose channel has a cap is one contact for the customer on that channel, however many
contact attributes the release holds. The decision withholds at the cap given the count
(`decide(contacts=…)`); the log writer re-counts under its append lock and refuses the record
beyond the cap (`gateway.accesslog.contacts`), so the count is exact across processes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.accesslog.contacts import ContactClaim
from gateway.domain import Category, CustomerKey, Decision
from gateway.policy.model import Policy


def contact_claims(policy: Policy, decision: Decision, customer: CustomerKey | None,
                   now: datetime) -> tuple[ContactClaim, ...]:
    """The contact `decision` makes for `customer` (none, or one on the purpose's channel)."""
    purpose = policy.purposes.get(decision.purpose)
    if customer is None or purpose is None or not purpose.marketing:
        return ()
    cap = policy.cap_for(purpose.channel)
    if cap is None or purpose.channel is None:
        return ()
    if not any(policy.attributes[r.attribute].category is Category.CONTACT
               for r in decision.released):
        return ()
    return (ContactClaim(customer, purpose.channel, now,
                         now - timedelta(days=cap.window_days), cap.max),)
