"""Re-identification (pseudonym → RRN): the one place a raw national id number leaves, by policy.

The policy releases attribute `rrn` in its `exact` view only under a purpose marked
`reidentification: true` (`policy check` refuses the rule anywhere else). 개인정보 보호법
제24조의2 ①: an RRN is processed only where a law requires or allows it — here the suspicious
transaction report and customer due diligence of 특정금융정보법 제4조·제5조의2. The number is
never read from an affiliate table (those hold it masked): it is decrypted from the gateway's
own registry (AES-GCM, `pseudonymizer.vault`) for the one customer the caller named by its
pseudonym. The access record lists the release (attribute, view, rule) like any other; it
never holds the number.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.db.models import Customer
from gateway.domain import AttributeId, CustomerKey, Decision, Released
from gateway.errors import BadRequest, Forbidden, StoreUnavailable
from gateway.policy import Policy
from gateway.policy.views import ExactView
from gateway.resolve import CustomerRef
from pseudonymizer.errors import InvalidCiphertext
from pseudonymizer.vault import RrnVault

__all__ = ["NATIONAL_ID", "from_vault", "national_ids"]

NATIONAL_ID = AttributeId("rrn")


class PseudonymRequired(BadRequest):
    type_slug = "reidentification-needs-pseudonym"
    title = "re-identification names the customer by pseudonym"


def from_vault(policy: Policy, item: Released) -> bool:
    """Whether a released item is the exact national id (decrypted here, not fetched)."""
    if item.attribute != NATIONAL_ID:
        return False
    return isinstance(policy.attributes[item.attribute].views[item.view], ExactView)


def national_ids(policy: Policy, decision: Decision, ref: CustomerRef,
                 customer_key: CustomerKey, *, engine: Engine,
                 vault: RrnVault) -> dict[AttributeId, str]:
    """The decrypted number for an exact `rrn` release, `{}` when the decision has none."""
    if not any(from_vault(policy, item) for item in decision.released):
        return {}
    # INVARIANT: an exact national id leaves only under a re-identification purpose. The policy
    # check already refuses any other rule; this second look fails closed if one slipped by.
    if not policy.purposes[decision.purpose].reidentification:
        raise Forbidden(f"purpose `{decision.purpose}` does not allow re-identification")
    if ref.pseudonym is None:
        raise PseudonymRequired("re-identification names the customer by the caller's "
                                "pseudonym, not by a national id number")
    query = select(Customer.rrn_ciphertext).where(Customer.customer_key == customer_key)
    try:
        with engine.connect() as conn:
            blob = conn.execute(query).scalar_one_or_none()
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"customer registry unavailable: {type(exc).__name__}") from exc
    if blob is None:
        raise StoreUnavailable("customer registry holds no number for this customer")
    try:
        digits = vault.decrypt(blob, customer_key)
    except InvalidCiphertext as exc:  # fail closed: nothing is released
        raise StoreUnavailable(f"national id could not be decrypted: {exc}") from None
    return {NATIONAL_ID: f"{digits[:6]}-{digits[6:]}"}
