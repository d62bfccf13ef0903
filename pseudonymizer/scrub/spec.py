"""Entity names and operator specifications, importable without presidio (policy loading).

A policy names one operator per entity: `pseudonym` (national ids → the recipient's
pseudonym, through a callback), `mask_keep_last` (digits masked but the last `keep`),
`mask_keep_domain` (email: local part masked), `mask` (every letter and digit masked),
`placeholder` (`<이름>`, `<전화번호>`...), `redact` (removed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pseudonymizer.scrub.errors import InvalidOperator

__all__ = [
    "DEFAULT_OPERATORS",
    "ENTITIES",
    "OPERATOR_KINDS",
    "PLACEHOLDERS",
    "OperatorSpec",
    "PseudonymFn",
    "parse_operators",
]

# Fixed: the evaluation corpus, the policy files and the access log use these names.
ENTITIES: tuple[str, ...] = (
    "KR_RRN",
    "KR_FRN",
    "KR_PHONE",
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "KR_BANK_ACCOUNT",
    "KR_BRN",
    "KR_PASSPORT",
    "KR_DRIVER_LICENSE",
    "PERSON",
)

# Gets the matched text (a national id in any notation); returns the pseudonym to write in
# its place, or None when the number resolves to no customer (then the placeholder is used).
PseudonymFn = Callable[[str], "str | None"]

OPERATOR_KINDS = (
    "pseudonym", "mask_keep_last", "mask_keep_domain", "mask", "placeholder", "redact",
)
_NATIONAL_IDS = frozenset({"KR_RRN", "KR_FRN"})

PLACEHOLDERS: dict[str, str] = {
    "KR_RRN": "<주민등록번호>",
    "KR_FRN": "<외국인등록번호>",
    "KR_PHONE": "<전화번호>",
    "EMAIL_ADDRESS": "<이메일>",
    "CREDIT_CARD": "<카드번호>",
    "KR_BANK_ACCOUNT": "<계좌번호>",
    "KR_BRN": "<사업자등록번호>",
    "KR_PASSPORT": "<여권번호>",
    "KR_DRIVER_LICENSE": "<운전면허번호>",
    "PERSON": "<이름>",
}


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    kind: str
    keep: int = 4  # mask_keep_last only

    def __post_init__(self) -> None:
        if self.kind not in OPERATOR_KINDS:
            raise InvalidOperator(f"unknown operator `{self.kind}`")
        if not 0 <= self.keep <= 8:
            raise InvalidOperator(f"operator `{self.kind}`: `keep` must be 0-8")


DEFAULT_OPERATORS: dict[str, OperatorSpec] = {
    "KR_RRN": OperatorSpec("pseudonym"),
    "KR_FRN": OperatorSpec("pseudonym"),
    "KR_PHONE": OperatorSpec("mask_keep_last", 4),
    "EMAIL_ADDRESS": OperatorSpec("mask_keep_domain"),
    "CREDIT_CARD": OperatorSpec("mask_keep_last", 4),
    "KR_BANK_ACCOUNT": OperatorSpec("mask"),
    "KR_BRN": OperatorSpec("placeholder"),
    "KR_PASSPORT": OperatorSpec("placeholder"),
    "KR_DRIVER_LICENSE": OperatorSpec("placeholder"),
    "PERSON": OperatorSpec("placeholder"),
}


def parse_operators(raw: Mapping[str, Any] | None) -> dict[str, OperatorSpec]:
    """`{entity: "mask" | {"kind": "mask_keep_last", "keep": 4}}` over the defaults."""
    specs = dict(DEFAULT_OPERATORS)
    for entity, value in (raw or {}).items():
        if entity not in ENTITIES:
            raise InvalidOperator(f"unknown entity `{entity}` in operators")
        if isinstance(value, OperatorSpec):
            specs[entity] = value
        elif isinstance(value, str):
            specs[entity] = OperatorSpec(value)
        elif isinstance(value, Mapping) and set(value) <= {"kind", "keep"} and "kind" in value:
            keep = value.get("keep", 4)
            if not isinstance(keep, int) or isinstance(keep, bool):
                raise InvalidOperator(f"operator for `{entity}`: `keep` must be an integer")
            specs[entity] = OperatorSpec(str(value["kind"]), keep)
        else:
            raise InvalidOperator(f"operator for `{entity}` must be a name or `kind`/`keep`")
        kind = specs[entity].kind
        if kind == "pseudonym" and entity not in _NATIONAL_IDS:
            raise InvalidOperator(f"operator `pseudonym` applies to national ids, not `{entity}`")
        if kind == "mask_keep_domain" and entity != "EMAIL_ADDRESS":
            raise InvalidOperator(f"operator `mask_keep_domain` applies to emails, not `{entity}`")
    return specs
