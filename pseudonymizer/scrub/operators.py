"""presidio-anonymizer `OperatorConfig`s for the operators named in `spec` (one per kind)."""

from __future__ import annotations

from collections.abc import Callable

from presidio_anonymizer.entities import OperatorConfig

from pseudonymizer.scrub.errors import ScrubError
from pseudonymizer.scrub.spec import PLACEHOLDERS, OperatorSpec, PseudonymFn

__all__ = ["MASK_CHAR", "operator_config"]

MASK_CHAR = "*"


def _mask_keep_last(keep: int) -> Callable[[str], str]:
    def mask(text: str) -> str:
        total = sum(c.isdigit() for c in text)
        seen = 0
        out = []
        for c in text:
            if c.isdigit():
                seen += 1
                out.append(c if seen > total - keep else MASK_CHAR)
            else:
                out.append(c)
        return "".join(out)

    return mask


def _mask_all(text: str) -> str:
    return "".join(MASK_CHAR if c.isalnum() else c for c in text)


def _mask_keep_domain(text: str) -> str:
    local, at, domain = text.rpartition("@") if "@" in text else ("", "", text)
    if not at:
        return _mask_all(text)
    return local[:1] + MASK_CHAR * 3 + "@" + domain.strip()


def _pseudonym(entity: str, fn: PseudonymFn | None) -> Callable[[str], str]:
    placeholder = PLACEHOLDERS[entity]

    def replace(text: str) -> str:
        if fn is None:
            return placeholder
        try:
            pseudonym = fn(text)
        except Exception as exc:  # fail closed: the caller releases nothing
            raise ScrubError(f"pseudonym callback failed for `{entity}`") from exc
        return pseudonym if pseudonym else placeholder

    return replace


def operator_config(entity: str, spec: OperatorSpec, pseudonym: PseudonymFn | None) -> OperatorConfig:
    """The presidio-anonymizer operator for one entity."""
    if spec.kind == "redact":
        return OperatorConfig("redact", {})
    if spec.kind == "placeholder":
        return OperatorConfig("replace", {"new_value": PLACEHOLDERS[entity]})
    if spec.kind == "pseudonym":
        return OperatorConfig("custom", {"lambda": _pseudonym(entity, pseudonym)})
    if spec.kind == "mask_keep_last":
        return OperatorConfig("custom", {"lambda": _mask_keep_last(spec.keep)})
    if spec.kind == "mask_keep_domain":
        return OperatorConfig("custom", {"lambda": _mask_keep_domain})
    return OperatorConfig("custom", {"lambda": _mask_all})
