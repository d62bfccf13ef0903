"""Meaning checks over a built policy set: one check per module, each with its coded problems.

The loader (`gateway.policy.loader`) reports what keeps an entry from being built; these checks
run afterwards over what was built and report what the entries MEAN: releases the law forbids,
rules that contradict each other, entries nobody can use. `codes.py` lists every code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.policy.checks import (
    overlap,
    retention,
    sensitive,
    unique_identifiers,
    unreleased,
    usable,
)
from gateway.policy.checks.codes import Code
from gateway.policy.model import Policy
from gateway.policy.yamlmarks import Document, Path


class Report(Protocol):
    def __call__(self, name: str, path: Path, code: Code, /, **params: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Context:
    """What a check reads: the built policy and where each entry sits in its file."""

    policy: Policy  # only the entries that could be built
    docs: Mapping[str, Document]  # file name → parsed document (positions)
    paths: Mapping[str, Mapping[str, Path]]  # kind (rule, attribute, ...) → id → YAML path
    report: Report  # report(file name, YAML path, code, **params)
    complete: bool  # no loader problem: every declared entry is in `policy`

    def rule_path(self, rule_id: str) -> Path:
        return self.paths.get("rule", {}).get(rule_id, ())

    def rule_system_path(self, rule_id: str, system: str) -> Path:
        """Where `system` is listed in the rule's `systems:` (or the rule, if not found)."""
        path = self.rule_path(rule_id)
        doc = self.docs.get("rules.yaml")
        entry: Any = doc.data if doc is not None else None
        for part in path:
            if isinstance(entry, dict):
                entry = entry.get(part)
            elif isinstance(entry, list) and isinstance(part, int) and part < len(entry):
                entry = entry[part]
            else:
                entry = None
        listed = entry.get("systems") if isinstance(entry, dict) else None
        if isinstance(listed, list) and system in listed:
            return path + ("systems", listed.index(system))
        return path + ("systems",)


Check = Callable[[Context], None]

# Errors first, then warnings; each module's `check` reports through `Context.report`.
CHECKS: tuple[Check, ...] = (
    unique_identifiers.check,
    sensitive.check,
    sensitive.check_marketing,
    overlap.check,
    retention.check,
    usable.check,
    unreleased.check,
)


def run_checks(context: Context) -> None:
    for check in CHECKS:
        check(context)


__all__ = ["CHECKS", "Context", "Report", "run_checks"]
