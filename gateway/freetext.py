"""Text fields the gateway stores (evidence references) must never hold a national id number.

개인정보 보호법 제24조의2: the RRN is kept only encrypted, in the registry. A reference such as
`evidence_ref` is written as given, so one that holds an RRN (full, in any notation, or masked
after the 7th digit) is refused — and the refusal never repeats the text.
"""

from __future__ import annotations

from gateway.errors import ValidationFailed
from pseudonymizer.rrn import contains_national_id


class NationalIdInText(ValidationFailed):
    type_slug = "national-id-in-text"
    title = "a national id number may not be written in this field"


def refuse_national_id(field: str, text: str) -> str:
    """`text` unchanged, or `NationalIdInText` naming the field (never the text)."""
    if contains_national_id(text):
        raise NationalIdInText(f"`{field}` holds what reads as a national id number: use a "
                               "form or recording reference instead")
    return text
