"""Legacy 13-digit pseudonyms over HTTP: an affiliate whose policy names `ff1-13` (issue #4).

The gateway runs a copy of the shipped policy with two edits: insurance on `pseudonym_scheme:
ff1-13` (its underwriting system may also map pseudonyms, and its call centre reads scrubbed
memos); every other affiliate stays on `siv`.
"""

from __future__ import annotations

import json

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway.api.deps import request_time
from gateway.policy.views.scrubbed import shared_scrubber
from pseudonymizer.errors import InvalidNationalId
from pseudonymizer.rrn import parse_national_id
from tests.api.conftest import (BANK_ROW, CARD_ROW, Harness, build_settings, postgres_settings,
                               start_harness)
from tests.api.test_api_errors import assert_problem
from tests.conftest import postgres_schema

INSURANCE_ROW = {"insurance_policies": '["자동차보험"]', "insured_car_model": "아반떼",
                 "apartment_size_m2": 84, "health_risk_class": "B"}
THIRTEEN = re.compile(r"[0-9]{13}")


def legacy_policy(source: Path, target: Path) -> Path:
    """A copy of `source` with insurance on `ff1-13`."""
    shutil.copytree(source, target)
    affiliates = target / "affiliates.yaml"
    raw = affiliates.read_text(encoding="utf-8")
    head = "    name_en: Hanbit Insurance\n    sees_group_customers: false\n"
    assert raw.count(head) == 1
    raw = raw.replace(head, head + "    pseudonym_scheme: ff1-13\n")
    perms = "        algorithm: ES256\n        permissions: [query]\n"
    underwriting = raw.index("id: insurance-underwriting")
    assert raw.find(perms, underwriting) > 0
    raw = raw[:underwriting] + raw[underwriting:].replace(
        perms, "        algorithm: ES256\n        permissions: [query, pseudonym:map]\n", 1)
    affiliates.write_text(raw, encoding="utf-8")
    rules = target / "rules.yaml"
    raw = rules.read_text(encoding="utf-8")
    service = "      mobile_phone: masked\n      email: masked\n"
    at = raw.index("id: insurance-customer-service")
    raw = raw[:at] + raw[at:].replace(service, service + "      callcenter_memo: scrubbed\n", 1)
    rules.write_text(raw, encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    # its own gateway: its own policy, and these tests rotate the master key
    tmp = tmp_path_factory.mktemp("legacy")
    policies = legacy_policy(policy_dir, tmp / "policies")
    yield from start_harness(build_settings(tmp, policies))


@pytest.fixture(autouse=True)
def _real_clock(gw: Harness) -> Iterator[None]:
    yield
    gw.client.app.dependency_overrides.pop(request_time, None)
    gw.now = None


def _pseudonym(gw: Harness, system: str, ref: dict[str, str]) -> str:
    purpose, attribute = {
        "insurance-underwriting": ("credit_risk", "annual_income"),
        "bank-fraud": ("fraud_prevention", "monthly_card_spend"),
        "card-risk": ("credit_risk", "loan_balance"),
    }[system]
    response = gw.query(system, ref, purpose, [attribute])
    assert response.status_code == 200, response.text
    value: str = response.json()["customer"]["pseudonym"]
    return value


def _held(gw: Harness) -> Any:
    return gw.customer({"bank": BANK_ROW, "card": CARD_ROW, "insurance": INSURANCE_ROW})


def test_policy_names_the_scheme(gw: Harness) -> None:
    affiliates = gw.services.policy.current.affiliates
    assert affiliates["insurance"].pseudonym_scheme == "ff1-13"  # type: ignore[index]
    assert {a.pseudonym_scheme for k, a in affiliates.items() if k != "insurance"} == {"siv"}


def test_thirteen_digits_stable_never_an_rrn_and_round_trip(gw: Harness) -> None:
    customers = [_held(gw) for _ in range(6)]
    for customer in customers:
        pseudonym = _pseudonym(gw, "insurance-underwriting", customer.ref)
        assert THIRTEEN.fullmatch(pseudonym)
        with pytest.raises(InvalidNationalId):
            parse_national_id(pseudonym)
        # stable: the same customer, asked again, by RRN or by the pseudonym itself
        assert _pseudonym(gw, "insurance-underwriting", customer.ref) == pseudonym
        assert _pseudonym(gw, "insurance-underwriting", {"pseudonym": pseudonym}) == pseudonym
        assert gw.services.pseudonymizer.resolve(pseudonym, "insurance") == customer.key
    pseudonyms = {_pseudonym(gw, "insurance-underwriting", c.ref) for c in customers}
    assert len(pseudonyms) == len(customers)


def test_the_scrubber_does_not_take_them_for_rrns(gw: Harness) -> None:
    pseudonyms = [_pseudonym(gw, "insurance-underwriting", _held(gw).ref) for _ in range(5)]
    # the same context words that raise an RRN's score; only the gateway's pseudonyms inside
    memo = " / ".join(f"주민번호 {p}, 주민등록번호: {p[:6]}-{p[6:]}" for p in pseudonyms)
    result = shared_scrubber().scrub(memo)
    assert "KR_RRN" not in result.counts and "KR_FRN" not in result.counts
    assert all(p in result.text for p in pseudonyms)


def test_unlinkable_to_other_affiliates_pseudonyms(gw: Harness) -> None:
    customer = _held(gw)
    legacy = _pseudonym(gw, "insurance-underwriting", customer.ref)
    bank = _pseudonym(gw, "bank-fraud", customer.ref)
    card = _pseudonym(gw, "card-risk", customer.ref)
    assert bank.startswith("p") and card.startswith("p") and len({legacy, bank, card}) == 3
    for other in (bank, card):  # nothing of the 13 digits shows in the other pseudonyms
        assert legacy not in other and legacy[3:] not in other
    # another affiliate's pseudonym names nobody for insurance, and the reverse
    for system, foreign in (("insurance-underwriting", bank), ("bank-fraud", legacy),
                            ("card-risk", legacy)):
        response = gw.query(system, {"pseudonym": foreign}, "credit_risk"
                            if system != "bank-fraud" else "fraud_prevention",
                            ["annual_income" if system == "insurance-underwriting" else
                             "monthly_card_spend" if system == "bank-fraud" else "loan_balance"])
        assert_problem(response, 422, "unknown-pseudonym")


def test_forged_and_unknown_thirteen_digits_are_the_same_unknown(gw: Harness) -> None:
    customer = _held(gw)
    good = _pseudonym(gw, "insurance-underwriting", customer.ref)
    forged = [
        good[:-1] + str((int(good[-1]) + 1) % 10),  # one digit off
        good[:2] + "0" + good[3:],  # marker 0: no key version
        "1234567890123",  # digits 3-4 are 34: not a month, yet not one of ours
        "99" + "9" * 11,
    ]
    details = set()
    for candidate in forged:
        response = gw.query("insurance-underwriting", {"pseudonym": candidate}, "credit_risk",
                            ["annual_income"])
        body = assert_problem(response, 422, "unknown-pseudonym")
        assert candidate not in response.text and good not in response.text
        details.add(body["type"])
    assert len(details) == 1


def test_a_valid_rrn_as_pseudonym_is_refused_without_echo(gw: Harness) -> None:
    customer = _held(gw)
    for system, purpose, attribute in (("insurance-underwriting", "credit_risk", "annual_income"),
                                       ("bank-fraud", "fraud_prevention", "monthly_card_spend")):
        response = gw.query(system, {"pseudonym": customer.rrn}, purpose, [attribute])
        body = assert_problem(response, 422, "unknown-pseudonym")
        assert "national id number" in body["detail"]
        assert customer.rrn not in response.text and customer.rrn[6:] not in response.text
        assert customer.rrn.encode() not in gw.services.access_log.record(body["log_index"])
    mapped = gw.client.post("/v1/pseudonyms/mappings",
                            json={"pseudonyms": [customer.rrn]},
                            headers=gw.auth("insurance-underwriting"))
    assert_problem(mapped, 422, "unknown-pseudonym")
    assert customer.rrn not in mapped.text


def test_memo_rrn_becomes_the_thirteen_digit_pseudonym(gw: Harness) -> None:
    customer = _held(gw)
    memo = "고객 주민번호 {rrn} 확인, 보상 문의"
    with gw.services.affiliates.engine("bank").begin() as conn:
        conn.execute(text("UPDATE bank_customers SET callcenter_memo = :m "
                          "WHERE customer_key = :k"),
                     {"m": memo.format(rrn=customer.rrn), "k": customer.key})
    response = gw.query("insurance-underwriting", customer.ref, "customer_service",
                        ["callcenter_memo"])
    assert response.status_code == 200, response.text
    body = response.json()
    value = body["released"]["callcenter_memo"]["value"]
    assert body["customer"]["pseudonym"] in value and customer.rrn not in value


def test_registration_numbers_every_customer_once(gw: Harness) -> None:
    customers = [_held(gw) for _ in range(3)]
    numbers = [gw.services.registry.number_of(c.key) for c in customers]
    assert all(isinstance(n, int) and n >= 1 for n in numbers)
    assert numbers == sorted(numbers) and len(set(numbers)) == 3  # drawn in order, once each
    for customer, number in zip(customers, numbers, strict=True):
        assert gw.services.registry.key_of_number(number) == customer.key  # type: ignore[arg-type]
    with gw.services.gateway_engine.connect() as conn:
        total, distinct = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT customer_no) "
                                            "FROM customers")).one()
    assert total == distinct


def test_rotation_grace_and_mapping_for_thirteen_digits(gw: Harness) -> None:
    customer = _held(gw)
    old = _pseudonym(gw, "insurance-underwriting", customer.ref)
    version = gw.services.keys.rotate()
    rotated_at = datetime.now(UTC)
    created = gw.services.keys.path / f"master-v{version}.key"
    os.utime(created, (rotated_at.timestamp(), rotated_at.timestamp()))
    gw.services.keys.reload()
    new = _pseudonym(gw, "insurance-underwriting", customer.ref)
    assert THIRTEEN.fullmatch(new) and new != old and new[2] != old[2]  # the marker moved

    within = rotated_at + timedelta(days=89)
    gw.now = within
    gw.client.app.dependency_overrides[request_time] = lambda: within
    assert _pseudonym(gw, "insurance-underwriting", {"pseudonym": old}) == new
    mapped = gw.client.post("/v1/pseudonyms/mappings", json={"pseudonyms": [old, new]},
                            headers=gw.auth("insurance-underwriting"))
    assert mapped.status_code == 200, mapped.text
    assert [(m["new"], m["error"]) for m in mapped.json()["mappings"]] == [(new, None),
                                                                             (new, None)]

    after = rotated_at + timedelta(days=91)
    gw.now = after
    gw.client.app.dependency_overrides[request_time] = lambda: after
    response = gw.query("insurance-underwriting", {"pseudonym": old}, "credit_risk",
                        ["annual_income"])
    assert_problem(response, 422, "pseudonym-expired")
    assert _pseudonym(gw, "insurance-underwriting", {"pseudonym": new}) == new


@pytest.fixture(scope="module")
def pg_gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    with postgres_schema("gw_legacy") as url:
        tmp = tmp_path_factory.mktemp("legacy-pg")
        settings = postgres_settings(tmp, legacy_policy(policy_dir, tmp / "policies"), url)
        yield from start_harness(settings)


@pytest.mark.postgres
def test_thirteen_digit_round_trip_on_postgres(pg_gw: Harness) -> None:
    assert pg_gw.services.gateway_engine.dialect.name == "postgresql"
    customers = [_held(pg_gw) for _ in range(3)]
    numbers = [pg_gw.services.registry.number_of(c.key) for c in customers]
    assert len(set(numbers)) == 3 and numbers == sorted(numbers)  # drawn from the sequence
    for customer in customers:
        pseudonym = _pseudonym(pg_gw, "insurance-underwriting", customer.ref)
        assert THIRTEEN.fullmatch(pseudonym)
        assert _pseudonym(pg_gw, "insurance-underwriting", {"pseudonym": pseudonym}) == pseudonym
    response = pg_gw.query("insurance-underwriting", {"pseudonym": "1234567890123"},
                           "credit_risk", ["annual_income"])
    assert_problem(response, 422, "unknown-pseudonym")


def test_a_number_past_the_scheme_range_fails_closed(gw: Harness) -> None:
    customer = _held(gw)
    number = gw.services.registry.number_of(customer.key)

    def renumber(value: int | None) -> None:
        with gw.services.gateway_engine.begin() as conn:
            conn.execute(text("UPDATE customers SET customer_no = :n WHERE customer_key = :k"),
                         {"n": value, "k": customer.key})

    renumber(10**9)
    try:
        response = gw.query("insurance-underwriting", customer.ref, "credit_risk",
                            ["annual_income"])
        body = assert_problem(response, 500, "customer-number-unusable")
        # the number is not echoed (the request id, hex digits, is not what is looked at)
        shown = {k: v for k, v in body.items() if k not in ("request_id", "instance")}
        assert "1000000000" not in json.dumps(shown) and "released" not in body
        # other affiliates' pseudonyms do not depend on the number
        assert _pseudonym(gw, "bank-fraud", customer.ref).startswith("p")
    finally:
        renumber(number)  # later registrations in this module continue from max() + 1
