"""View kinds by name: the registry the loader reads `kind:` against."""

from __future__ import annotations

from gateway.policy.views.base import JsonValue, View, ViewInputError
from gateway.policy.views.boolean import BooleanView
from gateway.policy.views.bucketed import BucketedView
from gateway.policy.views.exact import ExactView
from gateway.policy.views.generalized import GeneralizedView
from gateway.policy.views.masked import MaskedView
from gateway.policy.views.scrubbed import ScrubbedView
from gateway.policy.views.topk import TopKView

VIEW_KINDS: dict[str, type[View]] = {
    cls.kind: cls
    for cls in (ExactView, BucketedView, GeneralizedView, MaskedView, BooleanView, TopKView,
                ScrubbedView)
}

__all__ = [
    "VIEW_KINDS",
    "BooleanView",
    "BucketedView",
    "ExactView",
    "GeneralizedView",
    "JsonValue",
    "MaskedView",
    "ScrubbedView",
    "TopKView",
    "View",
    "ViewInputError",
]
