"""The shipped policy set agrees with docs/DATA-MODEL.md and keeps its promises."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.domain import Category
from gateway.policy import Policy

# system: (affiliate, algorithm, permissions) — docs/DATA-MODEL.md, "Systems"
SYSTEMS = {
    "bank-callcenter": ("bank", "EdDSA", {"query", "consent:grant", "consent:withdraw",
                                          "consent:read", "contact_stop:write",
                                          "contact_stop:read", "history:read"}),
    "bank-fraud": ("bank", "ES256", {"query", "pseudonym:map"}),
    "bank-app": ("bank", "EdDSA", {"consent:grant", "consent:withdraw", "consent:read",
                                   "contact_stop:write", "contact_stop:read", "history:read"}),
    "bank-branch": ("bank", "EdDSA", {"consent:grant", "consent:withdraw", "consent:read",
                                      "history:read"}),
    "card-marketing": ("card", "EdDSA", {"query", "campaign:run"}),
    "card-risk": ("card", "ES256", {"query"}),
    "securities-risk": ("securities", "ES256", {"query"}),
    "securities-marketing": ("securities", "EdDSA", {"query", "campaign:run"}),
    "insurance-marketing": ("insurance", "EdDSA", {"query", "campaign:run"}),
    "insurance-underwriting": ("insurance", "ES256", {"query"}),
    "insurance-callcenter": ("insurance", "EdDSA", {"consent:grant", "consent:withdraw",
                                                    "consent:read", "contact_stop:write",
                                                    "contact_stop:read", "history:read"}),
    "holding-analytics": ("holding", "EdDSA", {"query"}),
    "holding-audit": ("holding", "EdDSA", {"log:read", "consent:read"}),
    "holding-privacy": ("holding", "EdDSA", {"policy:reload"}),
    "holding-customer-center": ("holding", "EdDSA", {"consent:any_customer", "consent:grant",
                                                     "consent:withdraw", "consent:read",
                                                     "contact_stop:write", "contact_stop:read",
                                                     "history:read"}),
}

# attribute: (owner, category, type, table.column, views least revealing first) — "Attributes"
ATTRIBUTES = {
    "name": ("bank", "identity", "text", "bank_customers.name", ["masked", "exact"]),
    "rrn": ("bank", "identity", "text", "bank_customers.rrn_masked", ["masked", "exact"]),
    "birth_date": ("bank", "identity", "date", "bank_customers.birth_date",
                   ["age_band", "birth_year", "exact"]),
    "address": ("bank", "contact", "text", "bank_customers.address", ["sido", "sigungu", "exact"]),
    "mobile_phone": ("bank", "contact", "text", "bank_customers.mobile_phone", ["masked", "exact"]),
    "email": ("bank", "contact", "text", "bank_customers.email", ["masked", "exact"]),
    "employer": ("bank", "identity", "text", "bank_customers.employer", ["exact"]),
    "job_title": ("bank", "identity", "text", "bank_customers.job_title", ["exact"]),
    "annual_income": ("bank", "financial", "amount", "bank_customers.annual_income",
                      ["band", "exact"]),
    "deposit_balance": ("bank", "financial", "amount", "bank_customers.deposit_balance",
                        ["has_deposit", "band", "exact"]),
    "loan_balance": ("bank", "financial", "amount", "bank_customers.loan_balance",
                     ["has_loan", "band", "exact"]),
    "credit_grade": ("bank", "financial", "integer", "bank_customers.credit_grade",
                     ["band", "exact"]),
    "callcenter_memo": ("bank", "behavioural", "text", "bank_customers.callcenter_memo",
                        ["scrubbed"]),
    "card_products": ("card", "financial", "list", "card_members.card_products",
                      ["has_card", "exact"]),
    "monthly_card_spend": ("card", "behavioural", "amount", "card_members.monthly_card_spend",
                           ["band", "exact"]),
    "top_spending_categories": ("card", "behavioural", "records",
                                "card_members.spending_by_category", ["top3", "exact"]),
    "interests": ("card", "behavioural", "list", "card_members.interests", ["exact"]),
    "stock_holdings_value": ("securities", "financial", "amount",
                             "securities_accounts.stock_holdings_value",
                             ["has_stocks", "band", "exact"]),
    "investment_risk_profile": ("securities", "financial", "text",
                                "securities_accounts.investment_risk_profile", ["exact"]),
    "insurance_policies": ("insurance", "financial", "list",
                           "insurance_customers.insurance_policies", ["has_policy", "exact"]),
    "insured_car_model": ("insurance", "behavioural", "text",
                          "insurance_customers.insured_car_model", ["has_car", "exact"]),
    "apartment_size": ("insurance", "financial", "integer",
                       "insurance_customers.apartment_size_m2", ["band", "exact"]),
    "health_risk_class": ("insurance", "sensitive", "text",
                          "insurance_customers.health_risk_class", ["exact"]),
}

# purpose: (consent, notify, retention, channel) — "Purposes"
PURPOSES = {
    "credit_risk": (False, True, 30, None),
    "fraud_prevention": (False, False, 365, None),
    "fraud_reidentification": (False, False, 30, None),
    "customer_service": (False, True, 30, None),
    "statistics_research": (False, False, 180, None),
    "marketing_sms": (True, True, 365, "sms"),
    "marketing_phone": (True, True, 365, "agent_call"),
    "marketing_email": (True, True, 365, "email"),
    "marketing_auto_call": (True, True, 365, "auto_call"),
    "marketing_push": (True, True, 365, "push"),
    "marketing_post": (True, True, 365, "post"),
}


def test_systems_match_the_data_model(shipped_policy: Policy) -> None:
    got = {sid: (s.affiliate, s.algorithm, set(s.permissions))
           for sid, s in shipped_policy.systems.items()}
    assert got == SYSTEMS
    for system in shipped_policy.systems.values():
        key_type = Ed25519PublicKey if system.algorithm == "EdDSA" else EllipticCurvePublicKey
        assert isinstance(system.public_key, key_type)
        assert shipped_policy.affiliates[system.affiliate].systems[system.id] is system


def test_only_the_holding_sees_group_customers(shipped_policy: Policy) -> None:
    assert {a for a, aff in shipped_policy.affiliates.items() if aff.sees_group_customers} == {
        "holding"}
    assert set(shipped_policy.affiliates) == {"holding", "bank", "card", "securities", "insurance"}


def test_attributes_match_the_data_model(shipped_policy: Policy) -> None:
    got = {
        aid: (a.owner, a.category.value, a.type, f"{a.source.table}.{a.source.column}",
              list(a.views))
        for aid, a in shipped_policy.attributes.items()
    }
    assert got == ATTRIBUTES


def test_purposes_match_the_data_model(shipped_policy: Policy) -> None:
    got = {pid: (p.consent_required, p.notify_customer, p.retention_days, p.channel)
           for pid, p in shipped_policy.purposes.items()}
    assert got == PURPOSES
    assert all(p.legal_bases and p.name_ko for p in shipped_policy.purposes.values())
    assert shipped_policy.purposes["credit_risk"].legal_basis.startswith(  # type: ignore[index]
        "금융지주회사법 제48조의2 제1항 및 같은 법 시행령 제27조의2")
    assert "; " in shipped_policy.purposes["marketing_sms"].legal_basis  # type: ignore[index]


def test_channels_and_reconfirmation(shipped_policy: Policy) -> None:
    # every channel of the vocabulary is named in Korean; marketing consent lapses after 2 years
    assert [c.value for c in shipped_policy.channels] == [
        "agent_call", "auto_call", "sms", "email", "push", "post"]
    assert all(c.name_ko and c.name_en for c in shipped_policy.channels.values())
    assert shipped_policy.reconfirm_days == 730
    marketing = {p.channel for p in shipped_policy.purposes.values() if p.marketing}
    assert marketing == {c.value for c in shipped_policy.channels}  # one purpose per channel


def test_every_purpose_has_a_rule(shipped_policy: Policy) -> None:
    assert {r.purpose for r in shipped_policy.rules} == set(PURPOSES)


def test_no_rule_releases_the_memo_or_an_unmasked_rrn(shipped_policy: Policy) -> None:
    for rule in shipped_policy.rules:
        # free text leaves only through the scrubber (issue #4)
        assert rule.attributes.get("callcenter_memo", ("scrubbed",)) == ("scrubbed",), rule.id  # type: ignore[call-overload]
        if not shipped_policy.purposes[rule.purpose].reidentification:  # exact: only there
            assert rule.attributes.get("rrn", ("masked",)) == ("masked",), rule.id  # type: ignore[call-overload]


def test_statistics_gets_no_exact_view(shipped_policy: Policy) -> None:
    for rule in shipped_policy.rules:
        if rule.purpose == "statistics_research":
            assert all("exact" not in views for views in rule.attributes.values()), rule.id


def test_identity_attributes_are_masked_outside_marketing_phone(shipped_policy: Policy) -> None:
    # An exact name is only needed to address the customer on a marketing call or letter.
    for rule in shipped_policy.rules:
        if "exact" in rule.attributes.get("name", ()):  # type: ignore[call-overload]
            assert rule.purpose in ("marketing_phone", "marketing_post"), rule.id
    assert shipped_policy.attributes["health_risk_class"].category is Category.SENSITIVE  # type: ignore[index]
