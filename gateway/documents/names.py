"""Korean and English names of what a document mentions, taken from the loaded policy.

The policy files carry `name_ko`/`name_en` for affiliates, systems, attributes, purposes and
contact channels; view kinds and withholding reasons are a fixed vocabulary named here. An id
the policy no longer knows (a record written under an older policy) is shown as the id itself,
never dropped: the document still says what the log holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.policy.model import Policy


@dataclass(frozen=True, slots=True)
class Name:
    """A thing's id with its Korean and English names (`ko` first wherever shown)."""

    id: str
    ko: str
    en: str

    def __str__(self) -> str:
        return self.ko if self.ko == self.en else f"{self.ko} ({self.en})"


VIEW_KINDS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "exact": ("원본", "exact value"),
    "bucketed": ("구간", "band"),
    "generalized": ("일반화", "generalized"),
    "masked": ("일부 가림", "masked"),
    "boolean": ("있음/없음", "yes/no only"),
    "top_k": ("상위 항목명", "top categories"),
    "scrubbed": ("개인정보 가림 문장", "scrubbed text"),
})

REASONS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "no_rule": ("허용 규칙 없음", "no rule grants it"),
    "system_not_permitted": ("허용되지 않은 시스템", "system not permitted"),
    "view_not_allowed": ("허용되지 않은 제공 형태", "view not allowed"),
    "no_consent": ("동의 없음", "no consent"),
    "consent_withdrawn": ("동의 철회됨", "consent withdrawn"),
    "consent_expired": ("동의 만료", "consent expired"),
    "consent_unconfirmed": ("동의 재확인 필요", "consent not reconfirmed"),
    "contact_stop": ("수신거부", "contact stop"),
    "contact_cap": ("연락 횟수 제한", "contact cap reached"),
    "customer_unknown": ("보유하지 않은 고객", "customer not held"),
    "no_data": ("보유 정보 없음", "no data held"),
})

OUTCOMES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "allow": ("제공", "released"),
    "partial": ("일부 제공", "partly released"),
    "deny": ("제공 거부", "withheld"),
})


def _named(table: Mapping[str, tuple[str, str]], key: str) -> Name:
    ko, en = table.get(key, (key, key))
    return Name(key, ko, en)


class Names:
    """Names of one policy's affiliates, systems, purposes, attributes, views and channels."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @classmethod
    def of(cls, policy: Policy) -> Names:
        return cls(policy)

    def affiliate(self, affiliate_id: str) -> Name:
        found = self.policy.affiliates.get(affiliate_id)  # type: ignore[call-overload]
        return Name(affiliate_id, affiliate_id, affiliate_id) if found is None \
            else Name(affiliate_id, found.name_ko, found.name_en)

    def system(self, system_id: str) -> Name:
        found = self.policy.systems.get(system_id)  # type: ignore[call-overload]
        return Name(system_id, system_id, system_id) if found is None \
            else Name(system_id, found.name_ko, found.name_en)

    def purpose(self, purpose_id: str) -> Name:
        found = self.policy.purposes.get(purpose_id)  # type: ignore[call-overload]
        return Name(purpose_id, purpose_id, purpose_id) if found is None \
            else Name(purpose_id, found.name_ko, found.name_en)

    def legal_basis(self, purpose_id: str) -> str | None:
        found = self.policy.purposes.get(purpose_id)  # type: ignore[call-overload]
        return None if found is None else found.legal_basis

    def attribute(self, attribute_id: str) -> Name:
        found = self.policy.attributes.get(attribute_id)  # type: ignore[call-overload]
        return Name(attribute_id, attribute_id, attribute_id) if found is None \
            else Name(attribute_id, found.name_ko, found.name_en)

    def view(self, attribute_id: str, view: str) -> Name:
        """A view by its kind (`band` of an amount is a 구간); the id stays the view's name."""
        found = self.policy.attributes.get(attribute_id)  # type: ignore[call-overload]
        spec = None if found is None else found.views.get(view)
        ko, en = VIEW_KINDS.get(spec.kind if spec is not None else view, (view, view))
        return Name(view, ko, en)

    def channel(self, channel_id: str) -> Name:
        found = self.policy.channels.get(channel_id)  # type: ignore[call-overload]
        return Name(channel_id, channel_id, channel_id) if found is None \
            else Name(channel_id, found.name_ko, found.name_en)

    @staticmethod
    def reason(reason: str) -> Name:
        return _named(REASONS, reason)

    @staticmethod
    def outcome(outcome: str) -> Name:
        return _named(OUTCOMES, outcome)
