"""Campaigns over HTTP: only eligible customers, streamed after a durable record; a closing
record commits to exactly what was sent; bad input is a 422 that echoes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.accesslog.merkle import leaf_hash, verify_inclusion
from gateway.marketing.campaigns import CampaignStore
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.marketing_helpers import grant, record_at, register_stop
from tests.api.test_api_errors import assert_problem

SEOUL = {"attribute": "address", "view": "sido", "in": ["서울특별시"]}


def run(gw: Harness, system: str = "card-marketing", **body: Any) -> Any:
    payload = {"purpose": "marketing_sms", "channel": "sms", "reason": "가을 여행카드 안내",
               "ticket": "MKT-2026-118", "segment": [SEOUL], "attributes": ["mobile_phone"],
               **body}
    return gw.client.post("/v1/campaigns", headers=gw.auth(system), json=payload)


def lines(response: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in response.text.splitlines()]
    return rows[:-1], rows[-1]["summary"]


def pseudonym(gw: Harness, key: str, recipient: str = "card") -> str:
    return str(gw.services.pseudonymizer.pseudonym(key, recipient))  # type: ignore[arg-type]


def test_only_eligible_customers_and_a_commitment_to_them(gw: Harness) -> None:
    eligible = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, eligible.ref, night_contact=True).status_code == 201
    no_consent = gw.customer({"bank": BANK_ROW})
    stopped = gw.customer({"bank": BANK_ROW})
    assert grant(gw, stopped.ref).status_code == 201
    assert register_stop(gw, stopped.ref, scope="group").status_code == 201
    busan = gw.customer({"bank": {**BANK_ROW, "address": "부산광역시 해운대구 우동 1"}})
    assert grant(gw, busan.ref).status_code == 201

    response = run(gw)
    rows, summary = lines(response)
    mine = {pseudonym(gw, c.key): c for c in (eligible, no_consent, stopped, busan)}
    sent = [r for r in rows if r["pseudonym"] in mine]
    assert [r["pseudonym"] for r in sent] == [pseudonym(gw, eligible.key)]
    (line,) = sent
    assert line["released"] == {"mobile_phone": {"value": "010-2345-6789", "view": "exact"}}
    assert line["contact_window"] == "00:00–24:00 KST" and line["use_by"].endswith("Z")
    assert summary["withheld"].get("no_consent", 0) >= 1
    assert summary["withheld"].get("contact_stop", 0) >= 1
    assert summary["released"] == len(rows)
    # busan is outside the segment: not even a candidate
    assert summary["candidates"] == summary["released"] + sum(summary["withheld"].values())

    campaign = response.headers["x-campaign-id"]
    opened = record_at(gw, int(response.headers["x-log-index"]))
    assert opened["kind"] == "campaign.open" and opened["campaign"] == campaign
    assert opened["reason"] == "가을 여행카드 안내" and opened["segment"] == [SEOUL]
    status = gw.client.get(f"/v1/campaigns/{campaign}", headers=gw.auth("card-marketing"))
    assert status.status_code == 200, status.text
    done = status.json()
    assert done["status"] == "complete" and done["sent"] == done["released"] == len(rows)
    closing = record_at(gw, done["close_index"])
    assert closing["kind"] == "campaign.close" and closing["outcome"] == "complete"
    assert closing["sent"] == len(rows) and closing["leaves_root"] == done["leaves_root"]

    # an inclusion proof for the eligible customer checks against the closing record's root
    proof = CampaignStore(gw.services.gateway_engine).inclusion(campaign, eligible.key)
    assert proof is not None
    leaf = json.loads(proof["leaf"])
    assert leaf == {"customer_key": eligible.key, "pseudonym": line["pseudonym"],
                    "fields": ["mobile_phone"], "views": {"mobile_phone": "exact"}}
    assert verify_inclusion(leaf_hash(proof["leaf"].encode()), proof["index"],
                            closing["tree_size"], [bytes.fromhex(p) for p in proof["proof"]],
                            bytes.fromhex(closing["leaves_root"]))
    # and a customer who was not released has none
    assert CampaignStore(gw.services.gateway_engine).inclusion(campaign, no_consent.key) is None
    # another recipient cannot see the campaign
    other = gw.client.get(f"/v1/campaigns/{campaign}", headers=gw.auth("insurance-marketing"))
    assert_problem(other, 404, "campaign-not-found")


def test_default_attributes_are_every_contact_attribute_a_rule_grants(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    assert grant(gw, customer.ref).status_code == 201
    rows, _ = lines(run(gw, attributes=None))
    (line,) = [r for r in rows if r["pseudonym"] == pseudonym(gw, customer.key)]
    # card's sms rule: the number exact, the address as 시/도 only (name is identity, not contact)
    assert line["released"] == {"mobile_phone": {"value": "010-2345-6789", "view": "exact"},
                                "address": {"value": "서울특별시", "view": "sido"}}


def test_csv_on_request(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    assert grant(gw, customer.ref).status_code == 201
    response = run(gw, format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.text.splitlines()
    assert text[0] == "pseudonym,mobile_phone,contact_window,use_by"
    assert any(row.startswith(pseudonym(gw, customer.key) + ",010-2345-6789,08:00–21:00 KST,")
               for row in text[1:-1])
    assert text[-1].startswith("#summary,")


def test_the_cap_counts_campaign_contacts(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, customer.ref).status_code == 201
    mine = pseudonym(gw, customer.key)
    for _ in range(4):  # sms: 4 contacts in 30 days
        rows, _ = lines(run(gw))
        assert mine in {r["pseudonym"] for r in rows}
    rows, summary = lines(run(gw))
    assert mine not in {r["pseudonym"] for r in rows}
    assert summary["withheld"]["contact_cap"] >= 1
    query = gw.query("card-marketing", customer.ref, "marketing_sms", ["mobile_phone"])
    assert query.json()["withheld"][0]["reason"] == "contact_cap"


@pytest.mark.parametrize(("body", "slug"), [
    ({"channel": "fax"}, "unknown-channel"),
    # the card company may not filter on credit grades
    ({"segment": [{"attribute": "credit_grade", "view": "band", "in": [{"gte": 1, "lt": 4}]}]},
     "segment-not-permitted"),
    ({"segment": [{"attribute": "annual_income", "view": "band",
                   "in": [{"gte": 40000000, "lt": 55555555}]}]}, "segment-value-malformed"),
    ({"segment": [{"attribute": "birth_date", "view": "age_band", "in": ["35-44"]}]},
     "segment-value-malformed"),
    ({"segment": [{"attribute": "address", "view": "sido", "in": ["Gotham"]}]},
     "segment-value-malformed"),
    ({"reason": "고객 900101-1234567 요청"}, "national-id-in-text"),
    ({"ticket": "9001011234567"}, "national-id-in-text"),
    ({"purpose": "customer_service", "channel": "sms"}, "campaign-invalid"),
    ({"channel": "email"}, "campaign-invalid"),  # not the purpose's channel
    ({"attributes": ["annual_income"]}, "campaign-invalid"),  # only contact attributes
])
def test_bad_input_is_422_without_echo(gw: Harness, body: dict[str, Any], slug: str) -> None:
    response = run(gw, **body)
    problem = assert_problem(response, 422, slug)
    text = response.text
    for value in ("fax", "55555555", "35-44", "Gotham", "900101", "9001011234567"):
        assert value not in text
    assert problem["log_index"] is not None  # the refusal is recorded


def test_permission(gw: Harness) -> None:
    assert_problem(run(gw, system="card-risk"), 403, "forbidden")


def test_destruction_and_overdue(gw: Harness) -> None:
    from datetime import datetime, timedelta, timezone

    customer = gw.customer({"bank": BANK_ROW})
    assert grant(gw, customer.ref).status_code == 201
    response = run(gw)
    lines(response)
    campaign = response.headers["x-campaign-id"]
    store = CampaignStore(gw.services.gateway_engine)
    later = datetime.now(timezone.utc) + timedelta(days=366)  # past marketing's 365 days
    assert campaign in {c.id for c in store.overdue(later)}
    confirmed = gw.client.post(f"/v1/campaigns/{campaign}/destruction",
                               json={"reference": "DEL-2026-77"},
                               headers=gw.auth("card-marketing"))
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["destroyed_at"] is not None
    entry = record_at(gw, body["destruction_index"])
    assert entry["kind"] == "campaign.destruction" and entry["campaign"] == campaign
    assert campaign not in {c.id for c in store.overdue(later)}
    refused = gw.client.post(f"/v1/campaigns/{campaign}/destruction",
                             json={"reference": "900101-1234567"},
                             headers=gw.auth("card-marketing"))
    assert_problem(refused, 422, "national-id-in-text")
    assert "900101" not in refused.text


# --- a client that goes away mid-stream -------------------------------------------------------
def _stream(gw: Harness, *, batch_size: int = 1) -> Any:
    from datetime import datetime, timezone

    from gateway.api.routes.campaigns import CampaignStream, new_run
    from gateway.domain import AffiliateId, Caller, SystemId
    from gateway.marketing.campaigns import checked_spec

    policy = gw.services.policy.current
    caller = Caller(AffiliateId("card"), SystemId("card-marketing"), "tester", "t-1")
    spec = checked_spec(policy, caller, purpose="marketing_sms", channel="sms", reason="r",
                        ticket="t", segment=[SEOUL], attributes=["mobile_phone"])
    run = new_run(gw.services, policy, caller, spec, datetime.now(timezone.utc), "rid-1")
    run._batch_size = batch_size  # one customer per batch: several batch records
    return run, CampaignStream


@pytest.mark.parametrize("how", ["send_fails", "http_disconnect"])
def test_a_disconnect_leaves_a_record_of_exactly_what_was_sent(gw: Harness, how: str) -> None:
    import anyio

    from gateway.accesslog.merkle import root_from_leaves

    for _ in range(3):
        customer = gw.customer({"bank": BANK_ROW})
        assert grant(gw, customer.ref).status_code == 201
    run, stream_class = _stream(gw)
    bodies: list[bytes] = []
    went_away = anyio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        if how == "send_fails" and len(bodies) == 2:
            raise OSError("connection reset")
        bodies.append(message["body"])
        if how == "http_disconnect" and len(bodies) == 1:
            went_away.set()  # the watcher cancels the stream at its next await

    async def receive() -> dict[str, Any]:
        await went_away.wait()
        return {"type": "http.disconnect"}

    async def main() -> None:
        index = await run.open()
        await stream_class(run, index)({"type": "http"}, receive, send)

    anyio.run(main)
    expected = 2 if how == "send_fails" else 1
    assert len(bodies) == expected and run.sent == expected
    status = CampaignStore(gw.services.gateway_engine).get(run.id, recipient="card")
    assert status.status == "disconnected" and status.sent == expected
    closing = record_at(gw, status.close_index)  # type: ignore[arg-type]
    assert closing["outcome"] == "disconnected" and closing["sent"] == expected
    # the root commits to exactly the leaves of the lines sent, in order
    sent_keys = [json.loads(b)["pseudonym"] for b in bodies]
    with gw.services.gateway_engine.connect() as conn:
        from sqlalchemy import text
        leaves = [bytes(r[0]) for r in conn.execute(text(
            "SELECT leaf FROM campaign_leaves WHERE campaign_id = :c ORDER BY position"),
            {"c": run.id})]
    assert [json.loads(leaf)["pseudonym"] for leaf in leaves[:expected]] == sent_keys
    assert closing["leaves_root"] == root_from_leaves(leaves[:expected]).hex()
    assert closing["released"] >= expected  # decided and recorded, not all sent


# --- the command line -------------------------------------------------------------------------
def test_cli_campaign_run_and_review_overdue(gw: Harness, tmp_path: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import get_settings

    customer = gw.customer({"bank": BANK_ROW})
    assert grant(gw, customer.ref).status_code == 201
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(gw.settings.policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(gw.settings.public_keys_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "list.ndjson"
        result = runner.invoke(app, [
            "campaign", "run", "--system", "card-marketing", "--purpose", "marketing_sms",
            "--channel", "sms", "--reason", "가을 안내", "--ticket", "MKT-1",
            "--segment", json.dumps([SEOUL]), "--attributes", "mobile_phone",
            "--out", str(out)])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        assert pseudonym(gw, customer.key) in {r.get("pseudonym") for r in rows[:-1]}
        assert rows[-1]["summary"]["released"] == len(rows) - 1
        refused = runner.invoke(app, [
            "campaign", "run", "--system", "card-marketing", "--purpose", "marketing_sms",
            "--channel", "sms", "--reason", "900101-1234567", "--ticket", "MKT-1"])
        assert refused.exit_code != 0 and "900101" not in refused.output
        review = runner.invoke(app, ["review", "overdue", "--format", "json"])
        assert review.exit_code == 0, review.output
        found = json.loads(review.stdout)
        assert found["campaigns"] == [] and found["releases"]["by_recipient"] == []
    finally:
        get_settings.cache_clear()


def test_the_standalone_verifier_checks_a_campaign_inclusion_proof(
        gw: Harness, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway_verify.campaign import MalformedCampaignProof, verify_campaign_inclusion

    customers = [gw.customer({"bank": BANK_ROW}) for _ in range(3)]
    for c in customers:
        assert grant(gw, c.ref).status_code == 201
    response = run(gw)
    lines(response)
    campaign = response.headers["x-campaign-id"]
    status = CampaignStore(gw.services.gateway_engine).get(campaign, recipient="card")
    closing = gw.services.access_log.record(status.close_index)  # type: ignore[arg-type]
    proof = CampaignStore(gw.services.gateway_engine).inclusion(campaign, customers[1].key)
    assert proof is not None
    leaf = proof["leaf"].encode()
    good = verify_campaign_inclusion(closing, leaf, proof["index"], proof["proof"])
    assert good.ok and good.customer_key == customers[1].key and good.fields == ("mobile_phone",)
    # a leaf claiming another field, another index, or another campaign's record: refused
    forged = leaf.replace(b'"exact"', b'"masked"')
    assert not verify_campaign_inclusion(closing, forged, proof["index"], proof["proof"]).ok
    if proof["tree_size"] > 1:
        other = (proof["index"] + 1) % proof["tree_size"]
        assert not verify_campaign_inclusion(closing, leaf, other, proof["proof"]).ok
    with pytest.raises(MalformedCampaignProof, match="not a `campaign.close` record"):
        verify_campaign_inclusion(gw.services.access_log.record(status.open_index), leaf,
                                  proof["index"], proof["proof"])

    # the verifier's command line, from one proof file
    from gateway_verify.cli import main as verify_main

    path = tmp_path / "proof.json"
    path.write_text(json.dumps({"closing_record": closing.decode(), "leaf": proof["leaf"],
                                "index": proof["index"], "proof": proof["proof"]}), "utf-8")
    assert verify_main(["campaign", str(path)]) == 0
    assert f"was in campaign `{campaign}`" in capsys.readouterr().out
    path.write_text(json.dumps({"closing_record": closing.decode(),
                                "leaf": forged.decode(), "index": proof["index"],
                                "proof": proof["proof"]}), "utf-8")
    assert verify_main(["campaign", str(path)]) != 0
    assert "another root" in capsys.readouterr().err



def test_a_crash_mid_campaign_leaves_it_unclosed_and_listed(gw: Harness) -> None:
    from datetime import datetime, timedelta, timezone

    import anyio

    for _ in range(2):
        customer = gw.customer({"bank": BANK_ROW})
        assert grant(gw, customer.ref).status_code == 201
    run, _stream_class = _stream(gw)

    async def crash() -> None:  # the process dies after the first line: no close()
        await run.open()
        async for line in run.lines():
            run.sent_line(line)
            break

    anyio.run(crash)
    store = CampaignStore(gw.services.gateway_engine)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert run.id in {c.id for c in store.unclosed(later)}
    status = store.get(run.id, recipient="card")
    assert status.status == "running" and status.close_index is None
    # the opening and the first batch's record are in the log; the batch's lines were recorded
    # before they could be sent, so the log over-states what was sent, never under-states it
    opened = record_at(gw, status.open_index)
    assert opened["kind"] == "campaign.open" and opened["campaign"] == run.id
    batches = [json.loads(r) for r in gw.services.access_log.records(
        status.open_index + 1, gw.services.access_log.size())]
    assert any(r["kind"] == "campaign.batch" and r["campaign"] == run.id for r in batches)


def test_two_campaigns_at_once_never_exceed_the_cap(gw: Harness) -> None:
    from datetime import timedelta

    import anyio
    from sqlalchemy import insert

    from gateway.db.base import Base

    customers = [gw.customer({"bank": BANK_ROW}) for _ in range(4)]
    events = Base.metadata.tables["contact_events"]
    for n, c in enumerate(customers):
        assert grant(gw, c.ref).status_code == 201
    runs = [_stream(gw)[0] for _ in range(2)]
    with gw.services.gateway_engine.begin() as conn:  # three of the four sms contacts used
        for n, c in enumerate(customers):
            for i in range(3):
                conn.execute(insert(events).values(
                    log_index=20_000_000 + 10 * n + i, customer_key=c.key, channel="sms",
                    at=runs[0].now - timedelta(days=1 + i)))
    outputs: list[list[str]] = [[], []]

    async def one(i: int) -> None:
        run = runs[i]
        await run.open()
        async for line in run.lines():
            run.sent_line(line)
            if line.leaf is not None:
                outputs[i].append(json.loads(line.data)["pseudonym"])
        await run.close("complete")

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(one, 0)
            group.start_soon(one, 1)

    anyio.run(both)
    for c in customers:  # one contact left: exactly one of the two campaigns has each customer
        mine = pseudonym(gw, c.key)
        assert outputs[0].count(mine) + outputs[1].count(mine) == 1
    # and the other campaign withheld it at the cap (found under the log's lock, or before)
    assert sum(r.withheld.get("contact_cap", 0) for r in runs) >= len(customers)
