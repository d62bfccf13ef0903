"""Each token attack is refused over HTTP with its own problem type, and recorded."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.api.conftest import BANK_ROW, Harness
from tests.api.test_api_errors import assert_problem


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def alg_none(gw: Harness) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(gw.claims('card-risk'))}."


def hs256_with_public_key(gw: Harness) -> str:
    # The classic confusion attack: HMAC keyed with the system's public key PEM.
    public = gw.services.policy.current.systems["card-risk"].public_key
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64({"alg": "HS256", "typ": "JWT"})
    body = _b64(gw.claims("card-risk"))
    import hashlib
    import hmac

    sig = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def expired(gw: Harness) -> str:
    past = datetime.now(timezone.utc) - timedelta(minutes=10)
    return gw.raw_token("card-risk", gw.claims(
        "card-risk", iat=int(past.timestamp()), exp=int((past + timedelta(seconds=60)).timestamp())))


def wrong_audience(gw: Harness) -> str:
    return gw.raw_token("card-risk", gw.claims("card-risk", aud="someone-else"))


def unknown_system(gw: Harness) -> str:
    return gw.raw_token("card-risk", gw.claims("card-risk", iss="pirate-system"))


def signed_by_other_system(gw: Harness) -> str:
    # securities-risk is ES256 as well: right algorithm, wrong key.
    other = gw.raw_token("securities-risk", gw.claims("card-risk"), algorithm="ES256")
    return other


def tampered_signature(gw: Harness) -> str:
    token = gw.token("card-risk")
    head, body, sig = token.split(".")
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    return f"{head}.{body}.{flipped}"


def tampered_payload(gw: Harness) -> str:
    token = gw.token("card-risk")
    head, _body, sig = token.split(".")
    return f"{head}.{_b64(gw.claims('card-risk', sub='someone-else'))}.{sig}"


def too_long(gw: Harness) -> str:
    now = datetime.now(timezone.utc)
    return gw.raw_token("card-risk", gw.claims(
        "card-risk", exp=int((now + timedelta(hours=1)).timestamp())))


def missing_jti(gw: Harness) -> str:
    claims = gw.claims("card-risk")
    del claims["jti"]
    return gw.raw_token("card-risk", claims)


ATTACKS: list[tuple[str, Callable[[Harness], str], str]] = [
    ("alg none", alg_none, "token-algorithm"),
    ("hs256 keyed with the public key", hs256_with_public_key, "token-algorithm"),
    ("expired", expired, "token-expired"),
    ("wrong audience", wrong_audience, "token-audience"),
    ("unknown system", unknown_system, "token-unknown-system"),
    ("signed by another system", signed_by_other_system, "token-signature"),
    ("tampered signature", tampered_signature, "token-signature"),
    ("tampered payload", tampered_payload, "token-signature"),
    ("lifetime over five minutes", too_long, "token-lifetime"),
    ("no jti", missing_jti, "token-claims"),
    ("garbage", lambda gw: "not.a.jwt", "token-malformed"),
]


@pytest.mark.parametrize(("name", "make", "slug"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_token_attacks_refused(gw: Harness, name: str, make: Callable[[Harness], str],
                               slug: str) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    token = make(gw)
    start = gw.services.access_log.size()
    response = gw.client.post(
        "/v1/queries", headers={"Authorization": f"Bearer {token}"},
        json={"customer": customer.ref, "purpose": "credit_risk", "attributes": ["credit_grade"]})
    body = assert_problem(response, 401, slug)
    assert token not in response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    # no caller proven: counted per source and minute, recorded once the minute closes
    assert "log_index" not in body
    [record] = [r for r in gw.unauthenticated_records(start)
                if body["request_id"] in r["request_ids"]]
    assert record["problems"][slug] == {"status": 401, "count": 1}
    assert record["actor"] is None and record["customer"] is None
    assert record["source"] == "testclient"  # the peer address, as the server saw it


def test_missing_token(gw: Harness) -> None:
    response = gw.client.post("/v1/queries", json={})
    assert_problem(response, 401, "token-missing")


def test_replayed_jti_refused(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    token = gw.token("card-risk")
    body = {"customer": customer.ref, "purpose": "credit_risk", "attributes": ["credit_grade"]}
    first = gw.client.post("/v1/queries", json=body, headers={"Authorization": f"Bearer {token}"})
    assert first.status_code == 200, first.text
    again = gw.client.post("/v1/queries", json=body, headers={"Authorization": f"Bearer {token}"})
    assert_problem(again, 401, "token-replayed")


def test_ed25519_system_works(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    assert gw.algorithms["card-marketing"] == "EdDSA"
    response = gw.query("card-marketing", customer.ref, "marketing_sms", ["mobile_phone"])
    assert response.status_code == 200, response.text


def test_jwt_library_agrees_token_is_valid(gw: Harness) -> None:
    token = gw.token("card-risk")
    public = gw.services.policy.current.systems["card-risk"].public_key
    assert jwt.get_unverified_header(token)["alg"] == "ESP256"  # RFC 9864 name of ES256
    claims = jwt.decode(token, public, algorithms=["ESP256"], audience=gw.settings.audience)
    assert claims["iss"] == "card-risk" and claims["sub"] == "tester"


def test_running_gateway_forgets_expired_token_ids(tmp_path: Path, policy_dir: Path) -> None:
    """Replay protection needs ids only until `exp` + skew; the server purges older ones."""
    from sqlalchemy import func, insert, select

    from gateway.db.models import UsedToken
    from tests.api.conftest import build_settings, start_harness

    settings = build_settings(tmp_path, policy_dir).model_copy(
        update={"token_purge_interval_s": 0.05})
    for gw in start_harness(settings):
        engine = gw.services.tokens_engine
        past = datetime.now(timezone.utc) - timedelta(hours=1)
        with engine.begin() as conn:
            conn.execute(insert(UsedToken).values(jti="old-one", system="card-risk",
                                                  expires_at=past))
        assert gw.client.get("/healthz").status_code == 200
        fresh = gw.client.post("/v1/queries", headers=gw.auth("card-risk"), json={})
        assert fresh.status_code == 422  # the token was accepted and its id remembered
        deadline = time.monotonic() + 10
        count = 2
        while count and time.monotonic() < deadline:
            with engine.connect() as conn:
                count = conn.execute(select(func.count()).select_from(UsedToken)
                                     .where(UsedToken.jti == "old-one")).scalar_one()
            time.sleep(0.05)
        assert count == 0
        with engine.connect() as conn:  # the live token's id stays until it expires
            assert conn.execute(select(func.count()).select_from(UsedToken)).scalar_one() >= 1
