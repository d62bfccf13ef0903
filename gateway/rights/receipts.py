"""Consent receipts: what the customer agreed to (or withdrew), signed, for the customer to keep.

Every grant, reconfirmation and withdrawal of a consent answers with a receipt (issue #11). The
receipt is JSON whose field names follow ISO/IEC TS 27560:2023 (consent record information
structure) where one applies, as the W3C DPV implementation guide of TS 27560 spells them
(`schema_version`, `record_id`, `pii_principal_id`, `consent_status`, `event`, `pii_controllers`,
`purposes` with `lawful_basis`, `pii_information`, `retention_period`, `withdrawal_method`,
`privacy_rights`); what the standard has no field for (contact channels, night-time contact,
the access log index) carries a plain name. It is signed as a compact JWS with the gateway's
receipt key (`gateway.rights.jws`), and the same facts are the access record of the change.

It names no national id and no evidence reference: the customer appears as the pseudonym the
channel's affiliate knows. What it tells the customer comes from the policy in force:
- 개인정보 보호법 제17조·제22조, 신용정보법 제32조: the recipient, the purpose, the items, the
  retention, and the right to refuse with what refusing means;
- 정보통신망법 제50조: the contact channel and whether contact at night (21:00–08:00 KST) is
  allowed;
- 개인정보 보호법 제37조: withdrawal at any time, effective at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from gateway import record
from gateway.documents import Names, format_kst, render_html
from gateway.domain import Caller, ConsentRecord
from gateway.policy.model import Policy
from gateway.rights.jws import sign_compact
from gateway.rights.receipt_keys import ReceiptSigner
from gateway.rights.useby import retention_days

SCHEMA_VERSION = "ISO/IEC TS 27560:2023; gateway-consent-receipt/1"
Change = Literal["consent.grant", "consent.confirm", "consent.withdraw"]
EVENT_TYPES: dict[str, tuple[str, str, str]] = {  # change → (event_type, ko, en)
    "consent.grant": ("consent_given", "동의", "consent given"),
    "consent.confirm": ("consent_reconfirmed", "동의 재확인", "consent reconfirmed"),
    "consent.withdraw": ("consent_withdrawn", "동의 철회", "consent withdrawn"),
}
CATEGORY_NAMES = {"identity": "신원", "contact": "연락처", "financial": "금융",
                  "behavioural": "이용 행태", "sensitive": "민감정보"}
STATUS_NAMES = {"active": ("유효", "active"), "withdrawn": ("철회됨", "withdrawn"),
                "expired": ("만료됨", "expired"),
                "unconfirmed": ("재확인 필요", "needs reconfirmation")}


def _refusal(marketing: bool, recipient: str, recipient_en: str, purpose: str,
             purpose_en: str) -> dict[str, str]:
    if marketing:
        ko = (f"이 동의는 선택 사항이며 거부하실 수 있습니다. 거부하시더라도 금융거래(계약의 체결·"
              f"유지)에는 불이익이 없으며, 다만 {recipient}의 '{purpose}' 안내를 받지 못합니다.")
        en = (f"This consent is optional and you may refuse it. Refusing does not affect any "
              f"financial contract or service; you only will not receive {recipient_en}'s "
              f"'{purpose_en}' offers.")
    else:
        ko = (f"이 동의는 거부하실 수 있습니다. 거부하시면 {recipient}은(는) '{purpose}' 목적으로 "
              f"이 정보를 받지 못하며, 그 목적에 이 정보가 꼭 필요한 서비스는 이용이 제한될 수 "
              f"있습니다. 그 밖의 금융거래에는 불이익이 없습니다.")
        en = (f"You may refuse this consent. If you do, {recipient_en} will not receive this "
              f"information for '{purpose_en}', and a service that needs it for that purpose may "
              f"be unavailable; nothing else in your dealings with the group changes.")
    return {"right": "refuse", "text_ko": ko, "text_en": en,
            "legal_basis": "개인정보 보호법 제22조 제5항; 신용정보의 이용 및 보호에 관한 법률 "
                           "제32조 제4항"}


WITHDRAWAL = {
    "right": "withdraw",
    "text_ko": "동의는 언제든지 고객센터·앱·영업점에서 철회하실 수 있으며, 철회는 즉시 효력이 "
               "있습니다.",
    "text_en": "You may withdraw this consent at any time through the customer centre, the app "
               "or a branch; withdrawal takes effect at once.",
    "legal_basis": "개인정보 보호법 제37조; 신용정보의 이용 및 보호에 관한 법률 제37조",
}


def build_receipt(*, policy: Policy, change: Change, consent: ConsentRecord, status: str,
                  pseudonym: str, caller: Caller, now: datetime, log_index: int,
                  log_origin: str) -> dict[str, Any]:
    """The receipt's payload: every fact from the consent as stored and the policy in force."""
    names = Names.of(policy)
    recipient = names.affiliate(consent.recipient)
    purpose_name = names.purpose(consent.purpose)
    purpose = policy.purposes.get(consent.purpose)
    marketing = purpose is not None and purpose.marketing
    items: dict[str, dict[str, Any]] = {}
    for rule in policy.rules_for(consent.recipient, consent.purpose):
        for attribute_id, views in rule.attributes.items():
            attribute = policy.attributes.get(attribute_id)
            if attribute is None or attribute.category not in consent.categories:
                continue
            entry = items.setdefault(attribute_id, {
                "id": attribute_id, "name_ko": attribute.name_ko, "name_en": attribute.name_en,
                "category": attribute.category.value,
                "category_ko": CATEGORY_NAMES.get(attribute.category.value,
                                                  attribute.category.value),
                "owner": attribute.owner, "views": []})
            entry["views"] = sorted(set(entry["views"]) | set(views))
    days = retention_days(purpose) if purpose is not None else None
    channels = []
    if consent.channel is not None:
        channel = names.channel(consent.channel)
        channels.append({"id": channel.id, "name_ko": channel.ko, "name_en": channel.en})
    event_type, event_ko, event_en = EVENT_TYPES[change]
    status_ko, status_en = STATUS_NAMES.get(status, (status, status))
    return {
        "schema_version": SCHEMA_VERSION,
        "record_id": consent.id,
        "language": "ko",
        "pii_principal_id": pseudonym,
        "pii_principal_id_scheme": f"pseudonym known to `{caller.affiliate}`",
        "consent_status": status,
        "consent_status_ko": status_ko,
        "consent_status_en": status_en,
        "event": [{"event_type": event_type, "event_type_ko": event_ko,
                   "event_type_en": event_en, "event_time": record.timestamp(now),
                   "event_time_kst": format_kst(now, seconds=True),
                   "event_by": record.actor(caller)}],
        "pii_controllers": [{"party_id": recipient.id, "party_name": recipient.ko,
                             "party_name_en": recipient.en, "party_role": "recipient"}],
        "purposes": [{
            "purpose_id": consent.purpose,
            "purpose": purpose_name.ko,
            "purpose_en": purpose_name.en,
            "lawful_basis": list(purpose.legal_bases) if purpose is not None else [],
            "consent_type": "explicit",
            "pii_information": [items[k] for k in sorted(items)],
            "pii_categories": sorted(c.value for c in consent.categories),
            "retention_period": None if days is None else {
                "days": days, "text_ko": f"제공받은 날부터 {days}일 이내 파기",
                "text_en": f"destroyed within {days} days of each release"},
            "contact_channels": channels,
            "night_time_contact": consent.night_contact,
            "night_time_contact_ko": ("야간(21:00~08:00 KST) 연락 동의" if consent.night_contact
                                      else "야간(21:00~08:00 KST) 연락 안 함"),
            "withdrawal_method": WITHDRAWAL["text_ko"],
        }],
        "privacy_rights": [_refusal(marketing, recipient.ko, recipient.en, purpose_name.ko,
                                    purpose_name.en), WITHDRAWAL],
        "refusal_right_notified": consent.refusal_right_notified,
        "granted_at": record.timestamp(consent.granted_at),
        "confirmed_at": record.timestamp(consent.last_confirmed),
        "expires_at": None if consent.expires_at is None else record.timestamp(consent.expires_at),
        "withdrawn_at": (None if consent.withdrawn_at is None
                         else record.timestamp(consent.withdrawn_at)),
        "log_index": log_index,
        "log_origin": log_origin,
        "policy_version": policy.version,
        "issued_at": record.timestamp(now),
    }


def signed_receipt(payload: dict[str, Any], signer: ReceiptSigner) -> str:
    return sign_compact(payload, signer)


def render_receipt_html(payload: dict[str, Any], jws: str) -> str:
    """The receipt for people: Korean first, English beside, times in KST, the JWS attached."""
    return render_html("receipt.html", r=payload, jws=jws, kst=format_kst)
