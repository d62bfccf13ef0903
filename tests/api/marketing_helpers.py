"""Helpers shared by the marketing API tests: grants, stops, a second gateway process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.services import Services
from tests.api.conftest import Harness

INSURANCE_ROW = {"insurance_policies": '["한빛 자동차보험"]', "insured_car_model": "아반떼",
                 "apartment_size_m2": 84, "health_risk_class": "B"}


def grant(gw: Harness, ref: dict[str, str], *, system: str = "bank-callcenter",
          recipient: str = "card", purpose: str = "marketing_sms", channel: str | None = "sms",
          categories: list[str] | None = None, night_contact: bool = False,
          refusal_right_notified: bool = True, evidence_ref: str = "app-consent-form/v3#1") -> Any:
    return gw.client.post("/v1/consents", headers=gw.auth(system), json={
        "customer": ref, "recipient": recipient, "purpose": purpose, "channel": channel,
        "categories": categories or ["identity", "contact", "financial"],
        "evidence_ref": evidence_ref, "night_contact": night_contact,
        "refusal_right_notified": refusal_right_notified,
    })


def register_stop(gw: Harness, ref: dict[str, str], *, system: str = "bank-app",
                  **body: Any) -> Any:
    return gw.client.post("/v1/contact-stops", headers=gw.auth(system),
                          json={"customer": ref, **body})


def record_at(gw: Harness, index: int) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(gw.services.access_log.record(index))
    return record


@contextmanager
def second_process(gw: Harness) -> Iterator[TestClient]:
    """Another gateway (own services, engines, log writer) on the same database files: what a
    second process behind the load balancer would see."""
    services = Services.build(gw.settings)
    app = create_app(gw.settings, services=services)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
    finally:
        services.close()


def query_via(client: TestClient, gw: Harness, system: str, ref: dict[str, str], purpose: str,
              attributes: list[Any]) -> Any:
    return client.post("/v1/queries", headers=gw.auth(system),
                       json={"customer": ref, "purpose": purpose, "attributes": attributes})
