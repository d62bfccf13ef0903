"""The pure decision: default deny, rules, views, consent — and a property over random policies."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.domain import (
    AffiliateId,
    AttributeId,
    AttributeRequest,
    Caller,
    Category,
    ConsentId,
    ConsentRecord,
    ContactStop,
    ContactStopId,
    CustomerKey,
    Decision,
    DecisionRequest,
    Outcome,
    PurposeId,
    Reason,
    Released,
    SystemId,
    ViewName,
)
from gateway.errors import UnknownAttribute, UnknownPurpose, UnknownView
from gateway.policy import Policy, Rule, decide, load_policy
from gateway.policy.trace import DecisionTrace

NOW = datetime(2025, 6, 15, 9, 30, tzinfo=timezone(timedelta(hours=9)))
SECOND = timedelta(seconds=1)
CUSTOMER = CustomerKey("0123456789abcdef0123456789abcdef")

# Test-only rules appended to the shipped ones: a sensitive attribute, and a second rule that
# widens what the first one allows (views are the union over matching rules). `policy check`
# refuses both (P051, P052), so they are added after loading: the decision must stay safe even
# for a policy that slipped past the checks.
EXTRA_RULES = (
    Rule(id="test-card-service-health", description="시험용 — 민감정보는 목적과 관계없이 동의가 필요합니다",
         recipient=AffiliateId("card"), purpose=PurposeId("customer_service"), systems=None,
         attributes=MappingProxyType({AttributeId("health_risk_class"): (ViewName("exact"),)})),
    Rule(id="test-card-risk-exact-deposit", description="시험용 — 두 번째 규칙이 더 넓은 형태를 허용",
         recipient=AffiliateId("card"), purpose=PurposeId("credit_risk"),
         systems=frozenset({SystemId("card-risk")}),
         attributes=MappingProxyType({AttributeId("deposit_balance"): (ViewName("exact"),)})),
)


@pytest.fixture(scope="module")
def policy(shipped_dir: Path, public_keys_dir: Path) -> Policy:
    base = load_policy(shipped_dir, public_keys_dir)
    return dataclasses.replace(base, rules=base.rules + EXTRA_RULES)


def caller(system: str) -> Caller:
    affiliate = system.split("-")[0]
    return Caller(AffiliateId(affiliate), SystemId(system), employee="e1001", token_id="t-1")


def request(system: str, purpose: str, *attributes: str | tuple[str, str],
            known: bool = True) -> DecisionRequest:
    items = tuple(
        AttributeRequest(AttributeId(a)) if isinstance(a, str)
        else AttributeRequest(AttributeId(a[0]), ViewName(a[1]))
        for a in attributes
    )
    return DecisionRequest(caller=caller(system), purpose=PurposeId(purpose), attributes=items,
                           customer_known=known, now=NOW)


def consent(cid: str = "c-1", *, recipient: str = "card", purpose: str = "marketing_sms",
            categories: Sequence[Category] = (Category.IDENTITY, Category.CONTACT,
                                              Category.FINANCIAL),
            channel: str | None = "sms", granted_at: datetime = NOW - timedelta(days=30),
            expires_at: datetime | None = None,
            withdrawn_at: datetime | None = None, night_contact: bool = False,
            confirmed_at: datetime | None = None,
            refusal_right_notified: bool = True) -> ConsentRecord:
    return ConsentRecord(
        id=ConsentId(cid), customer=CUSTOMER, recipient=AffiliateId(recipient),
        purpose=PurposeId(purpose), categories=frozenset(categories), channel=channel,
        granted_at=granted_at, expires_at=expires_at, withdrawn_at=withdrawn_at,
        evidence_ref="app:consent-screen/v3", night_contact=night_contact,
        confirmed_at=confirmed_at, refusal_right_notified=refusal_right_notified,
    )


def reasons(decision: Decision) -> dict[str, Reason]:
    return {w.attribute: w.reason for w in decision.withheld}


def views(decision: Decision) -> dict[str, str]:
    return {r.attribute: r.view for r in decision.released}


# --- rules and views ---------------------------------------------------------------------------
def test_default_deny_without_a_rule(policy: Policy) -> None:
    d = decide(policy, request("card-risk", "credit_risk", "interests", "employer"), [])
    assert reasons(d) == {"interests": Reason.NO_RULE, "employer": Reason.NO_RULE}
    assert d.outcome is Outcome.DENY and d.rule_ids == ()
    assert d.withheld[0].detail == "no rule grants it to `card` for `credit_risk`"


def test_rule_restricted_to_other_systems(policy: Policy) -> None:
    # card-credit-risk-from-bank names card-risk only; card-marketing is the same affiliate
    d = decide(policy, request("card-marketing", "credit_risk", "credit_grade"), [])
    assert reasons(d) == {"credit_grade": Reason.SYSTEM_NOT_PERMITTED}


def test_rule_of_another_affiliate_does_not_apply(policy: Policy) -> None:
    d = decide(policy, request("securities-risk", "credit_risk", "deposit_balance"), [])
    assert reasons(d) == {"deposit_balance": Reason.NO_RULE}


def test_view_not_allowed(policy: Policy) -> None:
    d = decide(policy, request("card-risk", "credit_risk", ("annual_income", "exact")), [])
    assert reasons(d) == {"annual_income": Reason.VIEW_NOT_ALLOWED}
    assert d.withheld[0].detail == "view `exact` is not allowed: allowed `band`"


@pytest.mark.parametrize(("wanted", "view", "rule"), [
    (None, "has_deposit", "card-credit-risk-from-bank"),  # no view asked: least revealing
    ("band", "band", "card-credit-risk-from-bank"),
    ("exact", "exact", "test-card-risk-exact-deposit"),  # allowed by the second rule only
])
def test_view_choice_and_the_rule_credited(policy: Policy, wanted: str | None, view: str,
                                           rule: str) -> None:
    item = "deposit_balance" if wanted is None else ("deposit_balance", wanted)
    d = decide(policy, request("card-risk", "credit_risk", item), [])
    assert [(r.view, r.rule, r.consent) for r in d.released] == [(view, rule, None)]
    assert d.rule_ids == (rule,)


# --- consent -----------------------------------------------------------------------------------
def test_no_consent_needed_for_internal_management(policy: Policy) -> None:
    d = decide(policy, request("card-risk", "credit_risk", "credit_grade", "loan_balance"), [])
    assert d.outcome is Outcome.ALLOW and d.consent_ids == ()
    assert views(d) == {"credit_grade": "band", "loan_balance": "has_loan"}


def test_marketing_needs_consent(policy: Policy) -> None:
    r = request("card-marketing", "marketing_sms", "name", "mobile_phone", "deposit_balance")
    denied = decide(policy, r, [])
    assert set(reasons(denied).values()) == {Reason.NO_CONSENT}
    assert denied.withheld[0].detail == "no consent covers `identity` data for `marketing_sms`"
    allowed = decide(policy, r, [consent("c-7")])
    assert views(allowed) == {"name": "masked", "mobile_phone": "exact", "deposit_balance": "band"}
    assert {x.consent for x in allowed.released} == {"c-7"}
    assert allowed.consent_ids == ("c-7",) and allowed.rule_ids == ("card-marketing-sms",)


def test_consent_must_name_the_category(policy: Policy) -> None:
    r = request("card-marketing", "marketing_sms", "name", "deposit_balance")
    d = decide(policy, r, [consent(categories=[Category.IDENTITY])])
    assert views(d) == {"name": "masked"}
    assert reasons(d) == {"deposit_balance": Reason.NO_CONSENT}
    assert d.outcome is Outcome.PARTIAL


def test_sensitive_data_needs_consent_whatever_the_purpose(policy: Policy) -> None:
    r = request("card-marketing", "customer_service", "name", "health_risk_class")
    d = decide(policy, r, [])
    assert views(d) == {"name": "masked"}  # customer service itself needs no consent
    assert reasons(d) == {"health_risk_class": Reason.NO_CONSENT}
    # a consent to the purpose that does not name the sensitive category is not enough
    wide = consent("c-2", purpose="customer_service", channel=None,
                   categories=[Category.IDENTITY, Category.FINANCIAL])
    assert reasons(decide(policy, r, [wide])) == {"health_risk_class": Reason.NO_CONSENT}
    explicit = consent("c-3", purpose="customer_service", channel=None,
                       categories=[Category.SENSITIVE])
    d = decide(policy, r, [wide, explicit])
    assert views(d) == {"name": "masked", "health_risk_class": "exact"}
    assert [x.consent for x in d.released] == [None, "c-3"]


@pytest.mark.parametrize(("record", "reason"), [
    (consent(withdrawn_at=NOW), Reason.CONSENT_WITHDRAWN),  # withdrawal takes effect at once
    (consent(withdrawn_at=NOW + SECOND), None),  # withdrawn only in the future: still valid now
    (consent(expires_at=NOW), Reason.CONSENT_EXPIRED),  # expiry instant is already expired
    (consent(expires_at=NOW + SECOND), None),
    (consent(expires_at=NOW - SECOND, withdrawn_at=NOW - 2 * SECOND), Reason.CONSENT_WITHDRAWN),
    (consent(granted_at=NOW + SECOND), Reason.NO_CONSENT),  # not yet granted
    (consent(granted_at=NOW), None),  # granted this instant
    (consent(channel="phone"), Reason.NO_CONSENT),  # consent to calls is not consent to texts
    (consent(channel=None), Reason.NO_CONSENT),
    (consent(recipient="insurance"), Reason.NO_CONSENT),  # names another affiliate
    (consent(purpose="marketing_phone", channel="sms"), Reason.NO_CONSENT),
])
def test_consent_validity_at_now(policy: Policy, record: ConsentRecord,
                                 reason: Reason | None) -> None:
    d = decide(policy, request("card-marketing", "marketing_sms", "mobile_phone"), [record])
    if reason is None:
        assert [x.consent for x in d.released] == [record.id]
    else:
        assert reasons(d) == {"mobile_phone": reason}


def test_a_valid_consent_wins_over_withdrawn_and_expired_ones(policy: Policy) -> None:
    records = [consent("old", withdrawn_at=NOW - SECOND), consent("older", expires_at=NOW),
               consent("a", granted_at=NOW - timedelta(days=9)),
               consent("b", granted_at=NOW - timedelta(days=2))]
    for order in (records, list(reversed(records))):
        d = decide(policy, request("card-marketing", "marketing_sms", "mobile_phone", "name"),
                   order)
        assert d.consent_ids == ("b",)  # the most recently granted, whatever the store's order


def test_a_consent_that_cannot_be_evaluated_never_grants(policy: Policy) -> None:
    naive = consent("c-naive", granted_at=datetime(2025, 1, 1))  # no time zone
    d = decide(policy, request("card-marketing", "marketing_sms", "mobile_phone"), [naive])
    assert reasons(d) == {"mobile_phone": Reason.NO_CONSENT}
    assert d.errors == ("consent `c-naive` could not be evaluated: timestamps lack a time zone",)


# --- the request as a whole --------------------------------------------------------------------
def test_unknown_customer_withholds_everything(policy: Policy) -> None:
    r = request("card-marketing", "marketing_sms", "name", "interests", known=False)
    d = decide(policy, r, [consent()])
    assert reasons(d) == {"name": Reason.CUSTOMER_UNKNOWN, "interests": Reason.CUSTOMER_UNKNOWN}
    assert d.outcome is Outcome.DENY and d.consent_ids == ()


@pytest.mark.parametrize(("attributes", "outcome"), [
    (("credit_grade", "annual_income"), Outcome.ALLOW),
    (("credit_grade", "interests"), Outcome.PARTIAL),
    (("interests",), Outcome.DENY),
    ((), Outcome.DENY),  # nothing asked, nothing released
])
def test_outcome(policy: Policy, attributes: tuple[str, ...], outcome: Outcome) -> None:
    assert decide(policy, request("card-risk", "credit_risk", *attributes), []).outcome is outcome


@pytest.mark.parametrize(("r", "error", "message"), [
    (request("card-risk", "profiling", "name"), UnknownPurpose,
     "the declared purpose is not in the policy"),
    (request("card-risk", "credit_risk", "blood_type"), UnknownAttribute,
     "attribute #1 asked for is not in the catalogue"),
    (request("card-risk", "credit_risk", ("rrn", "unmasked")), UnknownView,
     r"the view asked for attribute #1 \(`rrn`\) is not one of its views"),
    # request errors come first, even for a customer nobody holds
    (request("card-risk", "credit_risk", "blood_type", known=False), UnknownAttribute,
     "attribute #1"),
])
def test_request_errors(policy: Policy, r: DecisionRequest, error: type[Exception],
                        message: str) -> None:
    with pytest.raises(error, match=message):
        decide(policy, r, [])


def test_decision_is_deterministic_and_in_request_order(policy: Policy) -> None:
    wanted = ["interests", "name", "deposit_balance", "mobile_phone", "address", "annual_income"]
    records = [consent("x", categories=[Category.CONTACT]),
               consent("y", categories=[Category.IDENTITY, Category.FINANCIAL])]
    first = decide(policy, request("card-marketing", "marketing_sms", *wanted), records)
    for seed in range(5):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        again = decide(policy, request("card-marketing", "marketing_sms", *wanted), shuffled)
        assert again == first
    assert [r.attribute for r in first.released] == ["name", "deposit_balance", "mobile_phone",
                                                     "address", "annual_income"]
    assert first.consent_ids == ("y", "x")  # deduplicated, in order of first use
    assert first.as_dict()["policy_version"] == policy.version


# --- property: nothing is released that no rule allows, never a wider view ----------------------
def _random_policy(base: Policy, data: st.DataObject) -> Policy:
    attributes = sorted(base.attributes)
    affiliates = sorted(base.affiliates)
    purposes = sorted(base.purposes)
    rules = []
    for i in range(data.draw(st.integers(0, 6), label="rule count")):
        recipient = data.draw(st.sampled_from(affiliates))
        own = sorted(base.affiliates[recipient].systems)  # type: ignore[index]
        systems = data.draw(st.none() | st.sets(st.sampled_from(own), min_size=1)
                            if own else st.none())
        granted = data.draw(st.sets(st.sampled_from(attributes), min_size=1, max_size=5))
        rules.append(Rule(
            id=f"r{i}", description="random", recipient=AffiliateId(recipient),
            purpose=data.draw(st.sampled_from(purposes)),
            systems=frozenset(systems) if systems else None,
            attributes=MappingProxyType({
                a: tuple(data.draw(st.sets(st.sampled_from(sorted(base.attributes[a].views)),  # type: ignore[index]
                                           min_size=1)))
                for a in sorted(granted)
            }),
        ))
    return dataclasses.replace(base, rules=tuple(rules))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_never_beyond_the_rules(policy: Policy, data: st.DataObject) -> None:
    chosen = _random_policy(policy, data)
    system = data.draw(st.sampled_from(sorted(chosen.systems)))
    purpose = chosen.purposes[data.draw(st.sampled_from(sorted(chosen.purposes)))]  # type: ignore[index]
    wanted = []
    for attr in data.draw(st.lists(st.sampled_from(sorted(chosen.attributes)), max_size=6)):
        view = data.draw(st.none() | st.sampled_from(sorted(chosen.attributes[attr].views)))  # type: ignore[index]
        wanted.append(AttributeRequest(AttributeId(attr), view))
    records = [
        consent(f"c{i}", recipient=data.draw(st.sampled_from(sorted(chosen.affiliates))),
                purpose=data.draw(st.sampled_from(sorted(chosen.purposes))),
                categories=data.draw(st.sets(st.sampled_from(list(Category)))),
                channel=data.draw(st.sampled_from([None, "sms", "phone", "email"])),
                granted_at=NOW + data.draw(st.integers(-5, 1)) * SECOND,
                expires_at=data.draw(st.none() | st.integers(-2, 2).map(lambda s: NOW + s * SECOND)),
                withdrawn_at=data.draw(st.none() | st.integers(-2, 2).map(lambda s: NOW + s * SECOND)))
        for i in range(data.draw(st.integers(0, 4)))
    ]
    who = chosen.systems[system]
    r = DecisionRequest(caller=Caller(who.affiliate, who.id, "e1", "t1"), purpose=purpose.id,
                        attributes=tuple(wanted), customer_known=data.draw(st.booleans()),
                        now=NOW)
    d = decide(chosen, r, records)

    # every requested attribute is answered exactly once
    answered = [x.attribute for x in (*d.released, *d.withheld)]
    assert sorted(answered) == sorted(w.attribute for w in wanted)
    by_id = {rule.id: rule for rule in chosen.rules}
    by_consent = {c.id: c for c in records}
    for item in d.released:
        rule = by_id[item.rule]
        attribute = chosen.attributes[item.attribute]
        assert r.customer_known
        assert rule.recipient == who.affiliate and rule.purpose == purpose.id
        assert rule.permits_system(who.id)
        assert item.view in rule.attributes[item.attribute]
        # never wider than the widest view any applicable rule allows
        widest = max(attribute.rank(v) for rl in chosen.rules
                     if rl.recipient == who.affiliate and rl.purpose == purpose.id
                     and rl.permits_system(who.id) and item.attribute in rl.attributes
                     for v in rl.attributes[item.attribute])
        assert attribute.rank(item.view) <= widest
        if purpose.consent_required or attribute.category is Category.SENSITIVE:
            c = by_consent[item.consent]  # type: ignore[index]
            assert c.recipient == who.affiliate and c.purpose == purpose.id
            assert attribute.category in c.categories
            assert purpose.channel is None or c.channel == purpose.channel
            assert c.granted_at <= NOW
            assert c.withdrawn_at is None or c.withdrawn_at > NOW
            assert c.expires_at is None or c.expires_at > NOW
        else:
            assert item.consent is None
    # the request path looks the rules' part up (worked out once per policy and key): the same
    # decision as working every step out, as `policy explain` does, on a first and a later call
    assert decide(chosen, r, records) == d
    assert decide(chosen, r, records, trace=DecisionTrace()) == d


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_property_the_planned_request_path_decides_as_every_step_worked_out(
        policy: Policy, data: st.DataObject) -> None:
    """The request path plans a whole request once per attribute list (and finishes it without
    a consent where none is needed); it must still weigh each request's own stops, contact
    count and consents (marketing reconfirmation, the refusal-right notice, timestamps that
    cannot be compared) exactly as `policy explain`'s worked-out decision does."""
    rule = data.draw(st.sampled_from(policy.rules))  # mostly what a rule grants, some not
    own = sorted(s for s, who in policy.systems.items() if who.affiliate == rule.recipient)
    system = data.draw(st.sampled_from(sorted(rule.systems or own)))
    purpose = rule.purpose
    catalogue = sorted(policy.attributes)
    names = data.draw(st.lists(st.sampled_from(sorted(rule.attributes)), min_size=1,
                               max_size=5)) + data.draw(st.lists(st.sampled_from(catalogue),
                                                                 max_size=1))
    wanted = tuple(
        AttributeRequest(AttributeId(a), data.draw(
            st.none() | st.sampled_from(sorted(policy.attributes[a].views))))  # type: ignore[index]
        for a in names)
    naive = NOW.replace(tzinfo=None)
    records = [
        consent(f"c{i}", recipient=data.draw(st.sampled_from([rule.recipient, "bank"])),
                purpose=data.draw(st.sampled_from([purpose, purpose, "credit_risk"])),
                categories=data.draw(st.sets(st.sampled_from(list(Category)), min_size=1)),
                channel=data.draw(st.sampled_from(
                    [policy.purposes[purpose].channel, None, "phone"])),
                granted_at=data.draw(st.sampled_from(
                    [NOW - timedelta(days=400), NOW - timedelta(days=3), NOW + SECOND, naive])),
                withdrawn_at=data.draw(st.sampled_from([None, None, NOW - SECOND])),
                expires_at=data.draw(st.sampled_from([None, None, NOW - SECOND])),
                confirmed_at=data.draw(st.sampled_from([None, NOW - timedelta(days=2)])),
                night_contact=data.draw(st.booleans()),
                refusal_right_notified=data.draw(st.booleans()))
        for i in range(data.draw(st.integers(0, 4)))
    ]
    stops = [
        ContactStop(id=ContactStopId(f"s{i}"), customer=CUSTOMER,
                    scope=data.draw(st.sampled_from([None, rule.recipient])),
                    channels=data.draw(st.sampled_from(
                        [None, frozenset({policy.purposes[purpose].channel or "sms"})])),
                    registered_at=data.draw(st.sampled_from([NOW - SECOND, NOW + SECOND])))
        for i in range(data.draw(st.integers(0, 2)))
    ]
    contacts = data.draw(st.integers(0, 12))
    who = policy.systems[system]
    r = DecisionRequest(caller=Caller(who.affiliate, who.id, "e1", "t1"), purpose=purpose,
                        attributes=wanted,
                        customer_known=True, now=NOW)
    try:
        worked_out = decide(policy, r, records, stops=stops, contacts=contacts,
                            trace=DecisionTrace())
    except (UnknownAttribute, UnknownView):
        with pytest.raises((UnknownAttribute, UnknownView)):
            decide(policy, r, records, stops=stops, contacts=contacts)
        return
    event(f"{worked_out.outcome.value}, consents relied on: {bool(worked_out.consent_ids)}, "
          f"stopped: {bool(worked_out.stop_ids)}, errors: {bool(worked_out.errors)}")
    for _ in range(2):  # the first call plans the request, the second looks the plan up
        assert decide(policy, r, records, stops=stops, contacts=contacts) == worked_out


def test_a_new_policy_version_never_reuses_the_old_plan(policy: Policy) -> None:
    wanted = request("card-risk", "credit_risk", "deposit_balance")
    assert [r.attribute for r in decide(policy, wanted, []).released] == ["deposit_balance"]
    # a reload builds a new Policy object: its plans start empty, so the withdrawn rule counts
    closed = dataclasses.replace(policy, rules=())
    assert [w.reason for w in decide(closed, wanted, []).withheld] == [Reason.NO_RULE]
    assert [r.attribute for r in decide(policy, wanted, []).released] == ["deposit_balance"]


# --- values made on the hot path without the dataclass's `__init__` (`domain._slot_setters`) --
_TEXT = st.text(max_size=12)
_OPTIONAL = st.none() | _TEXT


@given(attribute=_TEXT, view=_TEXT, rule=_TEXT, consent=_TEXT, window=_OPTIONAL)
def test_a_release_relying_on_a_consent_is_the_value_the_constructor_makes(
        attribute: str, view: str, rule: str, consent: str, window: str | None) -> None:
    granted = Released(AttributeId(attribute), ViewName(view), rule, None)
    made = granted.relying_on(ConsentId(consent), window)
    expected = Released(AttributeId(attribute), ViewName(view), rule, ConsentId(consent), window)
    assert made == expected and hash(made) == hash(expected) and repr(made) == repr(expected)
    assert type(made) is Released and granted.consent is None  # the plan's value is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.consent = ConsentId("other")  # type: ignore[misc]


@given(parts=st.tuples(st.lists(_TEXT, max_size=3).map(tuple), st.lists(_TEXT, max_size=3)
                       .map(tuple), _TEXT, _TEXT, *(st.lists(_TEXT, max_size=3).map(tuple)
                                                     for _ in range(4))))
def test_a_decision_made_on_the_hot_path_is_the_value_the_constructor_makes(
        parts: tuple[object, ...]) -> None:
    made = Decision.made(*parts)  # type: ignore[arg-type]
    expected = Decision(*parts)  # type: ignore[arg-type]
    assert made == expected and hash(made) == hash(expected) and repr(made) == repr(expected)
    assert [f.name for f in dataclasses.fields(Decision)] == [
        "released", "withheld", "policy_version", "purpose", "consent_ids", "rule_ids",
        "errors", "stop_ids"]  # `Decision.made` sets them in this order
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.purpose = PurposeId("other")  # type: ignore[misc]
