"""The `masked` view: names, phone numbers, e-mail addresses and RRNs with most characters hidden.

The RRN style follows the masking of 주민등록번호 뒷자리 in 개인정보의 안전성 확보조치 기준
(개인정보보호위원회 고시) practice: birth date and the sex digit stay, the other six are hidden.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar, Literal

from gateway.policy.views.base import JsonValue, View

_RRN = re.compile(r"^(\d{6})-?(\d)[\d*]{6}$")


def mask_name(name: str) -> str:
    """홍길동 → 홍*동, 김철 → 김*, 남궁민수 → 남**수: the first and (from 3 chars) last stay."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str | None:
    """010-1234-5678 → 010-****-5678: the carrier/area prefix and the last 4 digits stay."""
    digits = re.sub(r"[\s-]", "", phone)
    if not digits.isdigit():
        return None
    prefix = 2 if digits.startswith("02") else 3  # 02 is Seoul's area code, the rest are 3 digits
    middle = len(digits) - prefix - 4
    if middle < 1:
        return None
    return f"{digits[:prefix]}-{'*' * middle}-{digits[-4:]}"


def mask_email(email: str) -> str | None:
    """hong@example.com → h***@example.com: a fixed 3 stars, so the length is not revealed."""
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return None
    return f"{local[0]}***@{domain}"


def mask_rrn(rrn: str) -> str | None:
    """900101-1234567 or 900101-1****** → 900101-1******."""
    match = _RRN.match(rrn.strip())
    if match is None:
        return None
    return f"{match.group(1)}-{match.group(2)}******"


_MASKS = {"name": mask_name, "phone": mask_phone, "email": mask_email, "rrn": mask_rrn}


class MaskedView(View):
    kind: ClassVar[str] = "masked"
    applies_to: ClassVar[frozenset[str]] = frozenset({"text"})

    style: Literal["name", "phone", "email", "rrn"]

    def apply(self, value: Any, *, today: date) -> JsonValue:
        if not isinstance(value, str) or not value.strip():
            raise self._reject(f"a non-empty {self.style} string", value)
        masked = _MASKS[self.style](value.strip())
        if masked is None:
            raise self._reject(f"a well-formed {self.style}", value)
        return masked
