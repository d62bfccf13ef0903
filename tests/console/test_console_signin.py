"""Console sign-in: password, second factor, throttle, CSRF, sessions, sign-out, records."""

from __future__ import annotations

from datetime import datetime, timezone

import pyotp

from gateway.console.users import ConsoleUsers
from tests.console.conftest import PASSWORD, USERS, ConsoleHarness


def _post_signin(console: ConsoleHarness, username: str, password: str, code: str = "",
                 token: str | None = None) -> object:
    client = console.gw.client
    client.cookies.clear()
    page = client.get("/console/signin")
    return client.post("/console/signin", follow_redirects=False, data={
        "csrf_token": token if token is not None else console.csrf(page.text),
        "username": username, "password": password, "code": code})


def test_anonymous_is_sent_to_sign_in(console: ConsoleHarness) -> None:
    console.gw.client.cookies.clear()
    response = console.gw.client.get("/console/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/signin"


def test_agent_signs_in_without_second_factor(console: ConsoleHarness) -> None:
    console.sign_in("call_centre_agent")
    home = console.gw.client.get("/console/")
    assert home.status_code == 200
    assert "고객센터 상담원" in home.text
    # the display name holds markup: shown as text
    assert "&lt;b&gt;테스트&lt;/b&gt;" in home.text and "<b>테스트" not in home.text
    signin = console.records("console.signin")[-1]
    assert signin["status"] == 200
    assert signin["actor"] == {"affiliate": "holding", "system": "console",
                               "employee": USERS["call_centre_agent"]}


def test_officer_needs_the_second_factor(console: ConsoleHarness) -> None:
    response = _post_signin(console, USERS["privacy_officer"], PASSWORD, code="")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert "인증 코드가 올바르지 않습니다" in response.text  # type: ignore[attr-defined]
    refused = console.records("console.signin")[-1]
    assert refused["status"] == 401 and refused["actor"] is None
    assert refused["user"] == USERS["privacy_officer"]


def test_officer_signs_in_with_the_code_once(console: ConsoleHarness) -> None:
    console.forget_used_codes()
    code = console.code("privacy_officer")
    first = _post_signin(console, USERS["privacy_officer"], PASSWORD, code=code)
    assert first.status_code == 303  # type: ignore[attr-defined]
    cookie = first.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    # the same code a second time: refused (RFC 6238 §5.2)
    again = _post_signin(console, USERS["privacy_officer"], PASSWORD, code=code)
    assert again.status_code == 401  # type: ignore[attr-defined]


def test_wrong_password_is_refused_without_saying_which_part(console: ConsoleHarness) -> None:
    response = _post_signin(console, USERS["inspector"], "wrong password!")
    assert response.status_code == 401  # type: ignore[attr-defined]
    unknown = _post_signin(console, "nobody.here", PASSWORD)
    assert unknown.status_code == 401  # type: ignore[attr-defined]
    assert unknown.text.count("올바르지 않습니다") == 1  # type: ignore[attr-defined]


def test_sign_in_without_csrf_token_is_refused(console: ConsoleHarness) -> None:
    missing = _post_signin(console, USERS["inspector"], PASSWORD, token="")
    assert missing.status_code == 403  # type: ignore[attr-defined]
    forged = _post_signin(console, USERS["inspector"], PASSWORD, token="forged-token")
    assert forged.status_code == 403  # type: ignore[attr-defined]
    assert "요청을 확인할 수 없습니다" in forged.text  # type: ignore[attr-defined]


def test_signed_in_form_needs_the_session_token(console: ConsoleHarness) -> None:
    console.sign_in("privacy_officer")
    client = console.gw.client
    response = client.post("/console/log/export", data={
        "csrf_token": "not-the-session-token", "who": "감사팀", "why": "정기 점검"})
    assert response.status_code == 403
    assert console.records("console.export") == []


def test_sign_out_ends_the_session(console: ConsoleHarness) -> None:
    console.sign_in("inspector")
    client = console.gw.client
    token = console.csrf(client.get("/console/").text)
    out = client.post("/console/signout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/console/", follow_redirects=False).status_code == 303
    assert console.records("console.signout")[-1]["actor"]["employee"] == USERS["inspector"]


def test_sign_in_is_throttled_per_user(console: ConsoleHarness) -> None:
    gw = console.gw
    role = gw.services.policy.current.console_roles["inspector"]
    ConsoleUsers(gw.services.gateway_engine).add(
        username="target.user", display_name="표적", role=role, affiliate="holding",
        password=PASSWORD, now=datetime.now(timezone.utc))
    limit = gw.settings.console_signin_per_user
    for _ in range(limit):
        assert _post_signin(console, "target.user", "guess guess guess").status_code == 401  # type: ignore[attr-defined]
    # the right password no longer helps while the window lasts
    blocked = _post_signin(console, "target.user", PASSWORD)
    assert blocked.status_code == 429  # type: ignore[attr-defined]
    assert int(blocked.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert console.records("console.signin")[-1]["status"] == 429


def test_totp_secret_is_checked_against_the_clock() -> None:
    # what the fixture's authenticator computes is what pyotp verifies (no skew in tests)
    secret = pyotp.random_base32()
    assert pyotp.TOTP(secret).verify(pyotp.TOTP(secret).now())


def test_cookies_are_secure_unless_turned_off(console: ConsoleHarness) -> None:
    client = console.gw.client
    client.get("/console/signin")  # builds the console's state
    state = client.app.state.console  # type: ignore[attr-defined]
    state.secure_cookies = True  # the default (`console_secure_cookies`); tests speak http
    try:
        client.cookies.clear()
        page = client.get("/console/signin")
        assert "secure" in page.headers["set-cookie"].lower()  # the pre-sign-in CSRF cookie
    finally:
        state.secure_cookies = False


def test_sessions_end_when_idle_or_too_old(console: ConsoleHarness) -> None:
    from datetime import timedelta

    from gateway.console.sessions import Sessions

    sessions = Sessions(console.gw.services.gateway_engine, idle=timedelta(minutes=30),
                        lifetime=timedelta(hours=8))
    start = datetime.now(timezone.utc)
    token, _ = sessions.open("lee.agent", start)
    assert sessions.find(token, start + timedelta(minutes=29)) is not None  # and touched
    assert sessions.find(token, start + timedelta(minutes=58)) is not None
    assert sessions.find(token, start + timedelta(minutes=89)) is None  # idle 31 minutes
    assert sessions.find(token, start + timedelta(minutes=90)) is None  # deleted, not revived
    old, _ = sessions.open("lee.agent", start)
    for minutes in range(25, 8 * 60, 25):  # kept busy, still ends after 8 hours
        assert sessions.find(old, start + timedelta(minutes=minutes)) is not None
    assert sessions.find(old, start + timedelta(hours=8)) is None
    assert sessions.find("not-a-session", start) is None
