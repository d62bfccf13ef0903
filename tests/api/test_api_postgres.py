"""The same request path with the gateway and affiliate databases on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import (BANK_ROW, CARD_ROW, Harness, postgres_settings,
                               start_harness)
from tests.conftest import postgres_schema

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    with postgres_schema("gw_api") as url:
        settings = postgres_settings(tmp_path_factory.mktemp("pg"), policy_dir, url)
        yield from start_harness(settings)


def test_query_consent_and_log_on_postgres(pg_gw: Harness) -> None:
    assert pg_gw.services.gateway_engine.dialect.name == "postgresql"
    customer = pg_gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    risk = pg_gw.query("card-risk", customer.ref, "credit_risk",
                       [{"attribute": "deposit_balance", "view": "band"}, "mobile_phone"])
    assert risk.status_code == 200, risk.text
    assert risk.json()["released"]["deposit_balance"]["value"] == {"gte": 10_000_000,
                                                                   "lt": 50_000_000}
    granted = pg_gw.client.post("/v1/consents", headers=pg_gw.auth("bank-callcenter"), json={
        "customer": customer.ref, "recipient": "card", "purpose": "marketing_sms",
        "categories": ["contact"], "channel": "sms", "evidence_ref": "branch-form/77",
        "refusal_right_notified": True})
    assert granted.status_code == 201, granted.text
    sms = pg_gw.query("card-marketing", customer.ref, "marketing_sms", ["mobile_phone"])
    assert sms.json()["released"]["mobile_phone"]["value"] == "010-2345-6789"
    replay_token = pg_gw.token("card-risk")
    headers = {"Authorization": f"Bearer {replay_token}"}
    body = {"customer": customer.ref, "purpose": "credit_risk", "attributes": ["credit_grade"]}
    assert pg_gw.client.post("/v1/queries", json=body, headers=headers).status_code == 200
    assert pg_gw.client.post("/v1/queries", json=body, headers=headers).status_code == 401
    size = pg_gw.services.access_log.size()
    assert size >= 4
    note = pg_gw.client.get("/v1/log/checkpoint", headers=pg_gw.auth("card-risk"))
    assert note.status_code == 200 and note.text.splitlines()[1] == str(size)


def test_campaign_on_postgres(pg_gw: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from gateway.accesslog import store as log_store
    from gateway.accesslog.merkle import leaf_hash, verify_inclusion
    from gateway.marketing.campaigns import CampaignStore

    # leaves and contact events go through COPY, as a real campaign's batches of hundreds do
    monkeypatch.setattr(log_store, "COPY_MIN_ROWS", 2)

    customers = [pg_gw.customer({"bank": BANK_ROW}) for _ in range(3)]
    for c in customers:
        granted = pg_gw.client.post("/v1/consents", headers=pg_gw.auth("bank-callcenter"), json={
            "customer": c.ref, "recipient": "card", "purpose": "marketing_sms",
            "categories": ["contact"], "channel": "sms", "evidence_ref": "branch-form/78",
            "refusal_right_notified": True})
        assert granted.status_code == 201, granted.text
    body = {"purpose": "marketing_sms", "channel": "sms", "reason": "pg", "ticket": "T-1",
            "segment": [{"attribute": "address", "view": "sido", "in": ["서울특별시"]}],
            "attributes": ["mobile_phone"]}
    responses = []
    for _ in range(5):  # sms cap: 4 in 30 days, counted under the log's row lock
        response = pg_gw.client.post("/v1/campaigns", headers=pg_gw.auth("card-marketing"),
                                     json=body)
        assert response.status_code == 200, response.text
        responses.append(response)
    mine = {str(pg_gw.services.pseudonymizer.pseudonym(c.key, "card"))  # type: ignore[arg-type]
            for c in customers}
    sent = [{json.loads(line).get("pseudonym") for line in r.text.splitlines()} & mine
            for r in responses]
    assert sent == [mine] * 4 + [set()]  # the fifth is beyond the cap for all three
    last = json.loads(responses[-1].text.splitlines()[-1])["summary"]
    assert last["withheld"]["contact_cap"] >= 3

    store = CampaignStore(pg_gw.services.gateway_engine)
    status = store.get(responses[0].headers["x-campaign-id"], recipient="card")
    assert status.status == "complete"
    closing = json.loads(pg_gw.services.access_log.record(status.close_index))  # type: ignore[arg-type]
    assert closing["kind"] == "campaign.close" and closing["sent"] == status.sent
    proof = store.inclusion(status.id, customers[0].key)
    assert proof is not None
    assert verify_inclusion(leaf_hash(proof["leaf"].encode()), proof["index"],
                            proof["tree_size"], [bytes.fromhex(p) for p in proof["proof"]],
                            bytes.fromhex(closing["leaves_root"]))
