"""The scrubber's recognizers, one file each, and the entity name → class registry."""

from __future__ import annotations

from pseudonymizer.scrub.recognizers.base import KoreanRecognizer, fold_text
from pseudonymizer.scrub.recognizers.credit_card import CreditCardRecognizer
from pseudonymizer.scrub.recognizers.email import EmailRecognizer
from pseudonymizer.scrub.recognizers.kr_bank_account import KrBankAccountRecognizer
from pseudonymizer.scrub.recognizers.kr_brn import KrBrnRecognizer
from pseudonymizer.scrub.recognizers.kr_driver_license import KrDriverLicenseRecognizer
from pseudonymizer.scrub.recognizers.kr_frn import KrFrnRecognizer
from pseudonymizer.scrub.recognizers.kr_passport import KrPassportRecognizer
from pseudonymizer.scrub.recognizers.kr_phone import KrPhoneRecognizer
from pseudonymizer.scrub.recognizers.kr_rrn import KrRrnRecognizer
from pseudonymizer.scrub.recognizers.person import PersonRecognizer
from pseudonymizer.scrub.spec import ENTITIES

__all__ = ["ENTITIES", "RECOGNIZERS", "KoreanRecognizer", "PersonRecognizer", "fold_text"]

RECOGNIZERS: dict[str, type[KoreanRecognizer]] = {
    cls.ENTITY: cls
    for cls in (
        KrRrnRecognizer,
        KrFrnRecognizer,
        KrPhoneRecognizer,
        EmailRecognizer,
        CreditCardRecognizer,
        KrBankAccountRecognizer,
        KrBrnRecognizer,
        KrPassportRecognizer,
        KrDriverLicenseRecognizer,
        PersonRecognizer,
    )
}
if tuple(RECOGNIZERS) != ENTITIES:  # pragma: no cover - a developer error caught at import
    raise RuntimeError("recognizer registry and `ENTITIES` disagree")
