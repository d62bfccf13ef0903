"""The console's tables on PostgreSQL: migration 0009, users, sessions and the throttle."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from gateway.console.sessions import Sessions
from gateway.console.throttle import SigninThrottle
from gateway.console.users import ConsoleUsers
from gateway.db.engine import make_engine
from gateway.db.migrate import upgrade
from gateway.policy.model import ConsoleRole
from tests.conftest import postgres_schema

pytestmark = pytest.mark.postgres

OFFICER = ConsoleRole("privacy_officer", "고객정보관리인", "Privacy officer", True,
                      frozenset({"home"}))


def test_console_stores_on_postgres() -> None:
    with postgres_schema("console") as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            now = datetime.now(timezone.utc)
            users = ConsoleUsers(engine)
            created = users.add(username="pg.officer", display_name="김지현", role=OFFICER,
                                affiliate="holding", password="long enough secret", now=now)
            assert created.totp_secret is not None
            code = pyotp.TOTP(created.totp_secret).at(now)
            roles = {"privacy_officer": OFFICER}
            assert users.authenticate("pg.officer", "long enough secret", code, roles=roles,
                                      now=now) is not None
            assert users.authenticate("pg.officer", "long enough secret", code, roles=roles,
                                      now=now) is None  # the code was used
            sessions = Sessions(engine, idle=timedelta(minutes=30), lifetime=timedelta(hours=8))
            token, _ = sessions.open("pg.officer", now)
            assert sessions.find(token, now + timedelta(minutes=5)) is not None
            throttle = SigninThrottle(engine, per_user=2, per_source=10,
                                      window=timedelta(minutes=15))
            for _ in range(2):
                throttle.note("pg.officer", "10.0.0.1", False, now)
            assert throttle.wait_s("pg.officer", "10.0.0.1", now) > 0
        finally:
            engine.dispose()
