"""Why an approval is refused: each a stable problem type, and never a partial switch."""

from __future__ import annotations

from gateway.errors import GatewayError


class ApprovalRefused(GatewayError):
    status = 409
    type_slug = "policy-approval-refused"
    title = "the policy set cannot be approved"
    reason = "refused"  # stable, in the refusal's access record


class SelfApproval(ApprovalRefused):
    """Four eyes: whoever proposed a set may not approve it."""

    status = 403
    type_slug = "policy-self-approval"
    title = "the proposer of a policy set may not approve it"
    reason = "self-approval"


class VersionNotPending(ApprovalRefused):
    """The version is unknown, superseded by a newer pending set, or already live."""

    type_slug = "policy-version-not-pending"
    title = "the policy version is not the pending one"
    reason = "not-pending"


class NotProposed(ApprovalRefused):
    """Found by the file watch or SIGHUP, but no officer has put their name to it yet."""

    type_slug = "policy-not-proposed"
    title = "the pending policy set has no named proposer"
    reason = "not-proposed"


class PendingSetBroken(ApprovalRefused):
    """The pending set no longer builds (e.g. a public key it names was removed since)."""

    type_slug = "policy-pending-broken"
    title = "the pending policy set no longer loads"
    reason = "broken"


class NotAVersion(ApprovalRefused):
    """What was given is not a version hash at all (never repeated back, nor recorded)."""

    status = 422
    type_slug = "policy-version-malformed"
    title = "not a policy version hash"
    reason = "malformed"
