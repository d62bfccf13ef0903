"""The only form in which an RRN appears in a document: birth date and century digit."""

from __future__ import annotations

from pseudonymizer.rrn import NationalId


def masked_rrn(rrn: NationalId) -> str:
    """`900101-1******` — never more (개인정보 보호법 제24조의2: 주민등록번호 처리의 제한)."""
    return rrn.masked()
