"""`policy explain`: the trail of the API's own decision, from a seeded database or what-if."""

from __future__ import annotations

import getpass
import json
import random
import secrets as pysecrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from gateway.accesslog.store import LogLeaf
from gateway.cli import app
from gateway.db.migrate import upgrade
from gateway.domain import (
    AffiliateId,
    AttributeId,
    AttributeRequest,
    Category,
    ConsentRecord,
    CustomerKey,
    DecisionRequest,
    PurposeId,
    ViewName,
)
from gateway.errors import UnknownView
from gateway.keys import generate_system_keys
from gateway.policy import Policy, decide
from gateway.policy.explain import (
    CustomerInfo,
    ExplainInputError,
    WhatIfConsent,
    caller_for,
    explain,
    load_consents_file,
    parse_consent_option,
    to_text,
    what_if_records,
)
from gateway.policy.trace import DecisionTrace
from gateway.services import Services, ensure_secrets
from gateway.settings import Settings, get_settings
from pseudonymizer.rrn import generate_rrn, parse_national_id
from tests.policy.conftest import SHIPPED

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WHAT_IF = CustomerInfo("what-if", None, True, None)
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # the CLI reads settings once per process; tests change them
    yield
    get_settings.cache_clear()


def _consent(**fields: object) -> WhatIfConsent:
    return WhatIfConsent.model_validate(fields)


# --- what-if, pure --------------------------------------------------------------------------------
def test_what_if_trail_names_rule_view_and_each_consent(shipped_policy: Policy) -> None:
    caller = caller_for(shipped_policy, "card-marketing", "e1")
    purpose = PurposeId("marketing_sms")
    consents = what_if_records([
        _consent(id="old", categories=["identity", "contact"],
                 granted_at="2025-01-01T00:00:00+09:00", withdrawn_at="2026-03-01T00:00:00Z"),
        _consent(id="new", categories=["identity", "contact"],
                 granted_at="2026-02-01T00:00:00+09:00"),
        _consent(id="email-only", categories=["financial"], channel="email"),
    ], caller, shipped_policy, purpose, NOW)
    wanted = [AttributeRequest(AttributeId("name")), AttributeRequest(AttributeId("annual_income")),
              AttributeRequest(AttributeId("birth_date"), ViewName("exact")),
              AttributeRequest(AttributeId("email"))]
    x = explain(shipped_policy, caller, purpose, wanted, consents, now=NOW, customer=WHAT_IF,
                policy_source="policies")

    assert [(r.attribute, r.view, r.rule, r.consent) for r in x.decision.released] == [
        ("name", "masked", "card-marketing-sms", "new")]
    assert [(w.attribute, w.reason.value) for w in x.decision.withheld] == [
        ("annual_income", "no_consent"), ("birth_date", "view_not_allowed"),
        ("email", "no_rule")]
    name, income, birth, email = x.trace.attributes
    assert [(c.consent.id, c.verdict) for c in name.consents] == [
        ("old", "withdrawn"), ("email-only", "category_not_named"), ("new", "covers")]
    assert [(c.consent.id, c.verdict) for c in income.consents] == [
        ("old", "category_not_named"), ("new", "category_not_named"),
        ("email-only", "other_channel")]
    assert (birth.allowed_views, birth.view) == (("age_band",), None)
    assert email.granting_rules == ()
    assert x.trace.rules == ("card-marketing-sms",)

    text = to_text(x)
    assert "name: RELEASED as `masked` by rule `card-marketing-sms`" in text
    assert "`old` was withdrawn" in text
    assert "email: WITHHELD, no_rule" in text and "none (default deny)" in text


def test_trace_never_changes_the_decision(shipped_policy: Policy) -> None:
    rng = random.Random(5)
    attributes = sorted(shipped_policy.attributes)
    categories = list(Category)
    for _ in range(200):
        system = rng.choice(sorted(shipped_policy.systems))
        purpose = PurposeId(rng.choice(sorted(shipped_policy.purposes)))
        caller = caller_for(shipped_policy, system, "e")
        consents = what_if_records([
            _consent(categories=rng.sample(categories, rng.randint(1, 3)),
                     purpose=rng.choice(sorted(shipped_policy.purposes)),
                     granted_at=NOW - timedelta(days=rng.randint(-5, 400)),
                     expires_at=rng.choice([None, NOW + timedelta(days=rng.randint(-9, 9))]))
            for _ in range(rng.randint(0, 3))], caller, shipped_policy, purpose, NOW)
        request = DecisionRequest(
            caller=caller, purpose=purpose, now=NOW, customer_known=rng.random() > 0.1,
            attributes=tuple(AttributeRequest(AttributeId(a)) for a in rng.sample(attributes, 4)))
        trace = DecisionTrace()
        assert decide(shipped_policy, request, consents, trace=trace) == \
            decide(shipped_policy, request, consents)
        assert len(trace.attributes) == 4


def test_consent_option_and_file_parse(tmp_path: Path) -> None:
    option = parse_consent_option("categories=contact+identity,channel=sms,"
                                  "expires=2027-01-01T00:00:00+09:00,id=c1")
    assert option.categories == [Category.CONTACT, Category.IDENTITY]
    assert option.expires_at == datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=9)))
    file = tmp_path / "consents.yaml"
    file.write_text("consents:\n  - categories: [financial]\n"
                    "    granted_at: 2026-01-01T00:00:00+09:00\n", "utf-8")
    assert load_consents_file(file)[0].categories == [Category.FINANCIAL]


@pytest.mark.parametrize(("spec", "message"), [
    ("channel=sms", r"`--consent`: `categories`: field required"),
    ("categories=contact,expires=2027-01-01T00:00:00", r"`expires_at`: .*timezone"),
    ("categories=health", r"`categories.0`: input should be"),
    ("categories", r"consent option part `categories` is not `key=value`"),
    ("categories=contact,colour=red", r"`colour`: extra inputs are not permitted"),
])
def test_consent_option_errors(spec: str, message: str) -> None:
    with pytest.raises(ExplainInputError, match=message):
        parse_consent_option(spec)


def test_consents_file_errors(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("consents: {categories: [contact]}\n", "utf-8")
    with pytest.raises(ExplainInputError, match=r"must hold a `consents:` list"):
        load_consents_file(file)
    file.write_text("consents: [\n", "utf-8")
    with pytest.raises(ExplainInputError, match=r"c.yaml:2` is not valid yaml"):
        load_consents_file(file)


def test_unknown_view_is_refused_like_the_api(shipped_policy: Policy) -> None:
    caller = caller_for(shipped_policy, "card-risk", "e")
    with pytest.raises(UnknownView, match=r"view asked for attribute #1 \(`name`\) is not one of its views"):
        explain(shipped_policy, caller, PurposeId("credit_risk"),
                [AttributeRequest(AttributeId("name"), ViewName("raw"))], [], now=NOW,
                customer=WHAT_IF, policy_source="p")
    with pytest.raises(ExplainInputError, match=r"unknown system `nope`"):
        caller_for(shipped_policy, "nope", "e")


# --- against a seeded database, through the command line --------------------------------------
@dataclass
class Seeded:
    settings: Settings
    rrn: str  # synthetic; never printed
    pseudonym: str  # card's pseudonym of the customer
    consent_ok: str
    consent_withdrawn: str
    stranger_rrn: str  # registered, held by the bank only

    def __repr__(self) -> str:
        return "Seeded(<redacted>)"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("explain")
    settings = Settings(data_dir=tmp / "data", policy_dir=SHIPPED,
                        public_keys_dir=tmp / "public-keys")
    ensure_secrets(settings, create=True)
    generate_system_keys(SHIPPED, Path(settings.public_keys_dir), settings.secrets_path)
    upgrade(settings.gateway_url)
    svc = Services.build(settings)
    rng = random.Random(20261123)
    try:
        rrn = generate_rrn(rng, birth=date(1988, 3, 14), sex=1, foreigner=False, post2020=False)
        stranger = generate_rrn(rng, birth=date(1975, 5, 5), sex=2, foreigner=False,
                                post2020=True)
        key, other = CustomerKey(pysecrets.token_hex(16)), CustomerKey(pysecrets.token_hex(16))
        svc.registry.register(parse_national_id(rrn), key)
        svc.registry.register(parse_national_id(stranger), other)
        for affiliate in ("bank", "card"):
            svc.registry.add_relationship(key, affiliate, date(2020, 1, 1))
        svc.registry.add_relationship(other, "bank", date(2020, 1, 1))

        def grant(categories: list[str], days_ago: int) -> ConsentRecord:
            return svc.consents.grant(
                customer=key, recipient=AffiliateId("card"), purpose=PurposeId("marketing_sms"),
                categories=categories, channel="sms", expires_at=None, evidence_ref="form-1",
                granted_by_system="bank-app", granted_by_employee="e1",
                now=NOW - timedelta(days=days_ago), refusal_right_notified=True)

        gone = grant(["identity", "contact", "financial"], 300)
        svc.consents.withdraw(gone.id, NOW - timedelta(days=10))
        ok = grant(["identity", "contact"], 5)
        pseudonym = svc.pseudonymizer.pseudonym(key, "card")
    finally:
        svc.close()
    yield Seeded(settings, rrn, pseudonym, ok.id, gone.id, stranger)


@pytest.fixture
def env(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(seeded.settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(SHIPPED))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(seeded.settings.public_keys_dir))
    return seeded


def _explain(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["policy", "explain", "--system", "card-marketing",
                                 "--purpose", "marketing_sms", "--at", NOW.isoformat(), *args],
                           input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_explain_by_rrn_reads_the_stored_consents(env: Seeded) -> None:
    code, out, err = _explain("--rrn", env.rrn, "-a", "name", "-a", "mobile_phone",
                              "-a", "annual_income")
    assert code == 0, err
    masked = parse_national_id(env.rrn).masked()
    assert f"customer  RRN {masked}: known to `card`, pseudonym `{env.pseudonym}`" in out
    assert env.rrn not in out and parse_national_id(env.rrn).digits not in out
    assert "name: RELEASED as `masked` by rule `card-marketing-sms`" in out
    assert "mobile_phone: RELEASED as `exact`" in out
    assert f"relied on `{env.consent_ok}`" in out
    # the withdrawn consent named `financial`; the valid one does not
    assert "annual_income: WITHHELD, consent_withdrawn" in out
    assert f"`{env.consent_withdrawn}` was withdrawn" in out


def test_explain_by_pseudonym_takes_the_same_decision(env: Seeded) -> None:
    by_rrn = _explain("--rrn", "-", "-a", "name", "-a", "annual_income", "--format", "json",
                      stdin=env.rrn + "\n")
    by_pseudonym = _explain("--pseudonym", env.pseudonym, "-a", "name", "-a", "annual_income",
                            "--format", "json")
    assert by_rrn[0] == by_pseudonym[0] == 0, by_rrn[2] + by_pseudonym[2]
    a, b = json.loads(by_rrn[1]), json.loads(by_pseudonym[1])
    assert a["decision"] == b["decision"]
    assert a["decision"]["outcome"] == "partial"
    assert a["customer"]["shown"] == parse_national_id(env.rrn).masked()
    assert b["customer"] == {"given_as": "pseudonym", "shown": env.pseudonym, "known": True,
                             "pseudonym": env.pseudonym}
    assert env.rrn not in by_rrn[1]


def test_explain_customer_of_another_affiliate_is_unknown(env: Seeded) -> None:
    code, out, _ = _explain("--rrn", env.stranger_rrn, "-a", "name", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["customer"]["known"] is False and doc["customer"]["pseudonym"] is None
    assert doc["decision"]["withheld"][0]["reason"] == "customer_unknown"
    assert env.stranger_rrn not in out


def test_explain_what_if_adds_to_stored_consents(env: Seeded) -> None:
    code, out, err = _explain("--rrn", env.rrn, "-a", "annual_income",
                              "--consent", "id=hypo,categories=financial")
    assert code == 0, err
    assert "annual_income: RELEASED as `band`" in out and "relied on `hypo`" in out


def test_explain_what_if_without_database(env: Seeded, tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("consents:\n  - id: f1\n    categories: [identity]\n", "utf-8")
    code, out, err = _explain("-a", "name", "-a", "mobile_phone", "--consents", str(file),
                              "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["customer"]["given_as"] == "what-if"
    assert [r["attribute"] for r in doc["decision"]["released"]] == ["name"]
    assert doc["trail"]["attributes"][1]["consents"][0]["verdict"] == "category_not_named"
    code, out, _ = _explain("-a", "name", "--customer-unknown")
    assert code == 0 and "WITHHELD, customer_unknown" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--rrn", "900101-1234"], "national id number is malformed"),
    (["--pseudonym", "not-a-pseudonym"], "pseudonym is not one issued to `card`"),
    (["--rrn", "-", "--pseudonym", "x"], "give `--rrn` or `--pseudonym`, not both"),
    (["--at", "2026-11-23T10:00:00"], "`--at` must carry a time zone"),
    (["--consent", "categories=nothing"], "`categories.0`"),
    (["--customer-unknown", "--pseudonym", "x"], "`--customer-unknown` is for what-if runs"),
])
def test_explain_errors_exit_two(env: Seeded, args: list[str], message: str) -> None:
    code, out, err = _explain("-a", "name", *args)
    assert code == 2, out
    assert message in err
    assert "1234" not in err.replace("sha256", "")


def test_explain_system_without_query_is_flagged(env: Seeded) -> None:
    result = runner.invoke(app, ["policy", "explain", "--system", "bank-app", "--purpose",
                                 "credit_risk", "-a", "card_products"])
    assert result.exit_code == 0, result.stderr
    assert "WARNING   system `bank-app` lacks the `query` permission" in result.stdout


def test_reading_a_customer_is_recorded_as_the_officer_from_the_cli(env: Seeded) -> None:
    code, _, err = _explain("--rrn", env.rrn, "-a", "name", "--employee", "lee.privacy")
    assert code == 0, err
    engine = create_engine(env.settings.gateway_url)
    try:
        with engine.connect() as conn:
            last = conn.execute(select(LogLeaf.record).order_by(LogLeaf.idx.desc())).first()
    finally:
        engine.dispose()
    assert last is not None
    record = json.loads(last[0])
    assert record["kind"] == "policy.explain" and record["source"] == "cli"
    # the actor is who ran it; the system whose request was replayed asked for nothing
    assert record["actor"] is None and record["operator"] == getpass.getuser()
    assert record["simulated"] == {"affiliate": "card", "system": "card-marketing"}
