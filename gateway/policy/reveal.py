"""How revealing a view is: a partial order over views, for `policy diff` to call a change wide.

Across kinds the order is a convention of this gateway, from least to most revealing:
boolean < bucketed, top_k < generalized < masked < exact (data minimisation, 개인정보 보호법
제3조 제1항; NIST SP 800-188 §4 on coarsening). Within a kind a view reveals no more than another
when the other refines it: every bucket bound kept, an age band whose width divides, the same
mask, a k no larger. Views that neither refine nor coarsen each other are incomparable: a diff
treats such a change as a possible widening (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.policy.views import (
    BooleanView,
    BucketedView,
    ExactView,
    GeneralizedView,
    MaskedView,
    TopKView,
    View,
)

TIER: dict[str, int] = {
    BooleanView.kind: 0,
    BucketedView.kind: 1,
    TopKView.kind: 1,
    GeneralizedView.kind: 2,
    MaskedView.kind: 3,
    ExactView.kind: 4,
}

# Within one family of generalized levels, the later level reveals more.
_LEVELS = {"age_band": ("date", 0), "birth_year": ("date", 1), "sido": ("text", 0),
           "sigungu": ("text", 1)}


def at_most(a: View, b: View) -> bool:
    """Whether view `a` reveals no more than view `b` (reflexive, transitive, partial)."""
    tier_a, tier_b = TIER.get(a.kind, 99), TIER.get(b.kind, 99)
    if tier_a != tier_b:
        return tier_a < tier_b
    if a.kind != b.kind:
        return False  # e.g. bucketed vs top_k: neither tells the other's answer
    if isinstance(a, BucketedView) and isinstance(b, BucketedView):
        return set(a.bounds) <= set(b.bounds)
    if isinstance(a, GeneralizedView) and isinstance(b, GeneralizedView):
        (family_a, rank_a), (family_b, rank_b) = _LEVELS[a.level], _LEVELS[b.level]
        if family_a != family_b:
            return False
        if a.level == b.level == "age_band":
            return (a.width or 10) % (b.width or 10) == 0
        return rank_a <= rank_b
    if isinstance(a, TopKView) and isinstance(b, TopKView):
        return (a.field, a.by) == (b.field, b.by) and a.k <= b.k
    return a == b  # exact, masked, boolean: the same parameters or incomparable


def covered(view: View, by: Iterable[View]) -> bool:
    """Whether some view in `by` reveals at least as much as `view`."""
    return any(at_most(view, other) for other in by)


def describe(view: View) -> str:
    """A view's definition in one short line, e.g. `bucketed bounds=0,20000000`."""
    params = []
    for name, value in view.model_dump(exclude_none=True).items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        params.append(f"{name}={value}")
    return " ".join([view.kind, *params])
