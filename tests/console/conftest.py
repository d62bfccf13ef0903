"""A real gateway with console users of every role, for the console's page tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyotp
import pytest

from gateway.console.users import ConsoleUsers
from tests.api.conftest import Harness, build_settings, start_harness

PASSWORD = "correct horse battery"
# fixed secrets: the tests compute the codes an authenticator app would show
SECRETS = {"privacy_officer": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
           "auditor": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"}
USERS = {"privacy_officer": "kim.officer", "auditor": "park.audit",
         "call_centre_agent": "lee.agent", "inspector": "choi.fss"}


@dataclass
class ConsoleHarness:
    gw: Harness

    def code(self, role: str) -> str:
        return pyotp.TOTP(SECRETS[role]).now()

    def csrf(self, html: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, "no CSRF token in the page"
        return match.group(1)

    def forget_used_codes(self) -> None:
        """As if the next 30-second step had begun: a code used already may be used again."""
        from sqlalchemy import update

        from gateway.console.models import ConsoleUser
        with self.gw.services.gateway_engine.begin() as conn:
            conn.execute(update(ConsoleUser).values(totp_last_step=None))

    def sign_in(self, role: str, *, code: str | None = None) -> None:
        self.forget_used_codes()
        client = self.gw.client
        client.cookies.clear()
        token = self.csrf(client.get("/console/signin").text)
        if code is None and role in SECRETS:
            code = self.code(role)
        response = client.post("/console/signin", data={
            "csrf_token": token, "username": USERS[role], "password": PASSWORD,
            "code": code or ""}, follow_redirects=False)
        assert response.status_code == 303, response.text

    def records(self, kind: str) -> list[dict[str, object]]:
        import json
        log = self.gw.services.access_log
        return [doc for doc in (json.loads(r) for r in log.records(0, log.size()))
                if doc["kind"] == kind]


def add_users(gw: Harness) -> None:
    users = ConsoleUsers(gw.services.gateway_engine)
    roles = gw.services.policy.current.console_roles
    for role, username in USERS.items():
        users.add(username=username, display_name=f"{role} <b>테스트</b>", role=roles[role],
                  affiliate="holding", password=PASSWORD, now=datetime.now(timezone.utc),
                  totp_secret=SECRETS.get(role))


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path
            ) -> Iterator[ConsoleHarness]:
    settings = build_settings(tmp_path_factory.mktemp("console"), policy_dir)
    # the test client speaks plain http: cookies marked Secure would not come back
    settings = settings.model_copy(update={"console_secure_cookies": False})
    for gw in start_harness(settings):
        add_users(gw)
        yield ConsoleHarness(gw)
