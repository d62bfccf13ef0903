"""The policy: files → checked, immutable `Policy`; and the pure `decide` over it."""

from __future__ import annotations

from gateway.policy.decision import decide
from gateway.policy.loader import load_policy
from gateway.policy.model import Affiliate, Attribute, Policy, Purpose, Rule, Source, System
from gateway.policy.problems import PolicyLoadError, Problem

__all__ = [
    "Affiliate",
    "Attribute",
    "Policy",
    "PolicyLoadError",
    "Problem",
    "Purpose",
    "Rule",
    "Source",
    "System",
    "decide",
    "load_policy",
]
