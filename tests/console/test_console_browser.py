"""The console in a real browser: headless Chromium against a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from gateway.api.app import create_app
from gateway.console.users import ConsoleUsers
from tests.api.conftest import AFFILIATE_TABLES, BANK_ROW, CARD_ROW, Harness, build_settings
from tests.console.browser import chromium, free_port, missing_browser, serving
from tests.console.conftest import PASSWORD, SECRETS, USERS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# closes the attribute and the element it is in, then tries markup of its own
XSS = '"><img src=x id=xss-probe><script>window.__xss=1</script>'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[dict[str, Any]]:
    why = missing_browser()
    if why is not None:
        pytest.skip(why)
    from gateway.affiliates.schema import create_affiliate_schema
    from gateway.db.migrate import upgrade
    from gateway.keys import generate_system_keys
    from gateway.services import Services, ensure_secrets

    settings = build_settings(tmp_path_factory.mktemp("browser"), policy_dir)
    settings = settings.model_copy(update={"console_secure_cookies": False})
    ensure_secrets(settings, create=True)
    generate_system_keys(Path(settings.policy_dir), Path(settings.public_keys_dir),
                         settings.secrets_path)
    upgrade(settings.gateway_url)
    services = Services.build(settings)
    for affiliate in AFFILIATE_TABLES:
        create_affiliate_schema(services.affiliates.engine(affiliate), affiliate)
    users = ConsoleUsers(services.gateway_engine)
    roles = services.policy.current.console_roles
    for role, username in USERS.items():
        name = XSS if role == "inspector" else f"{role} 테스트"
        users.add(username=username, display_name=name, role=roles[role], affiliate="holding",
                  password=PASSWORD, now=datetime.now(timezone.utc),
                  totp_secret=SECRETS.get(role))
    harness = Harness(settings=settings, services=services, client=None,  # type: ignore[arg-type]
                      algorithms={s.id: s.algorithm
                                  for s in services.policy.current.systems.values()})
    customer = harness.customer({"bank": BANK_ROW, "card": CARD_ROW})
    app = create_app(settings, services=services)
    with serving(app, free_port()) as base, chromium() as driver:
        answer = httpx.post(f"{base}/v1/queries", headers=harness.auth("card-risk"), json={
            "customer": customer.ref, "purpose": "credit_risk", "attributes": ["loan_balance"]})
        assert answer.status_code == 200, answer.text
        yield {"base": base, "driver": driver, "services": services, "customer": customer}
    services.close()


def _sign_in(site: dict[str, Any], role: str, code: str | None = None) -> Any:
    from selenium.webdriver.common.by import By

    driver = site["driver"]
    driver.delete_all_cookies()
    driver.get(site["base"] + "/console/signin")
    driver.find_element(By.ID, "username").send_keys(USERS[role])
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    if code:
        driver.find_element(By.ID, "code").send_keys(code)
    driver.find_element(By.ID, "signin").click()
    _settled(driver, ".account, #signin-error, #error-title")
    return driver


def _settled(driver: Any, css: str) -> None:
    """Wait until the page the last click led to shows one of `css`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def _no_injection(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    assert driver.find_elements(By.ID, "xss-probe") == []
    assert driver.execute_script("return window.__xss === undefined")


def _fresh_code(site: dict[str, Any], role: str) -> str:
    from sqlalchemy import update

    from gateway.console.models import ConsoleUser
    with site["services"].gateway_engine.begin() as conn:  # as if a new 30-s step began
        conn.execute(update(ConsoleUser).values(totp_last_step=None))
    return pyotp.TOTP(SECRETS[role]).now()


def test_sign_in_without_second_factor(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = _sign_in(site, "call_centre_agent")
    assert driver.current_url.endswith("/console/")
    assert "고객센터 상담원" in driver.find_element(By.CLASS_NAME, "account").text
    assert "로그인했습니다" in driver.find_element(By.CLASS_NAME, "flash").text


def test_sign_in_with_second_factor(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = _sign_in(site, "privacy_officer")  # no code: refused
    assert "인증 코드가 올바르지 않습니다" in driver.find_element(By.ID, "signin-error").text
    driver = _sign_in(site, "privacy_officer", _fresh_code(site, "privacy_officer"))
    assert driver.current_url.endswith("/console/")
    assert "고객정보관리인" in driver.find_element(By.CLASS_NAME, "account").text
    # session cookie: HttpOnly (no script reads it) and SameSite=Strict
    cookie = driver.get_cookie("gw_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "gw_console" not in driver.execute_script("return document.cookie")


def test_csrf_refusal(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = _sign_in(site, "auditor", _fresh_code(site, "auditor"))
    driver.get(site["base"] + "/console/log")
    driver.execute_script(
        "document.querySelector('#export-form input[name=csrf_token]').value = 'forged'")
    driver.find_element(By.ID, "export-who").send_keys("감사팀")
    driver.find_element(By.ID, "export-why").send_keys("정기 점검")
    driver.find_element(By.ID, "export").click()
    _settled(driver, "#error-title")
    assert "요청을 확인할 수 없습니다" in driver.find_element(By.ID, "error-title").text


def test_a_role_may_not_see_a_page(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = _sign_in(site, "call_centre_agent")
    assert driver.find_elements(By.CSS_SELECTOR, "nav a[href='/console/log']") == []
    driver.get(site["base"] + "/console/log")
    assert "접근 권한이 없습니다" in driver.find_element(By.ID, "error-title").text


def test_xss_in_every_field_shown_back_comes_out_escaped(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = site["driver"]
    # the sign-in form shows the user name back
    driver.delete_all_cookies()
    driver.get(site["base"] + "/console/signin")
    driver.find_element(By.ID, "username").send_keys(XSS)
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.ID, "signin").click()
    _settled(driver, "#signin-error")
    _no_injection(driver)
    assert driver.find_element(By.ID, "username").get_attribute("value") == XSS

    # the display name (the inspector's is the probe) in the header of every page
    driver = _sign_in(site, "inspector")
    _no_injection(driver)
    assert XSS in driver.find_element(By.CLASS_NAME, "account").text

    # the export form's fields, shown back when the form is refused (a bad time)
    driver = _sign_in(site, "privacy_officer", _fresh_code(site, "privacy_officer"))
    driver.get(site["base"] + "/console/log")
    for field in ("export-who", "export-why", "export-since"):
        driver.find_element(By.ID, field).send_keys(XSS)
    driver.find_element(By.ID, "export").click()
    _settled(driver, "#export-error")
    _no_injection(driver)
    for field in ("export-who", "export-why", "export-since"):
        assert driver.find_element(By.ID, field).get_attribute("value") == XSS

    # the uploaded archive's file name, shown with the findings
    probe = Path(site["services"].settings.data_dir) / "x.tar"
    name = probe.with_name('"><img src=x id=xss-probe>.tar')
    name.write_bytes(b"not an archive")
    driver.find_element(By.ID, "archive").send_keys(str(name))
    driver.find_element(By.ID, "verify").click()
    _settled(driver, "#verdict")
    assert "검증 실패" in driver.find_element(By.ID, "verdict").text
    _no_injection(driver)
    # (the browser sends `"` in a file name as %22)
    shown = driver.find_element(By.ID, "verify-result").text
    assert "<img src=x id=xss-probe>.tar" in shown
    assert str(Path(site["services"].settings.data_dir)) not in shown  # no server path


def test_docs_render_offline(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = site["driver"]
    driver.get(site["base"] + "/docs")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert any("/v1/queries" in e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock"))


def test_timeline_and_the_record_its_look_up_leaves(site: dict[str, Any]) -> None:
    import json

    from selenium.webdriver.common.by import By

    customer = site["customer"]
    digits = customer.rrn.replace("-", "")
    driver = _sign_in(site, "call_centre_agent")
    driver.find_element(By.CSS_SELECTOR, "nav a[href='/console/timeline']").click()
    _settled(driver, "#rrn")
    driver.find_element(By.ID, "rrn").send_keys(customer.rrn)
    driver.find_element(By.ID, "look-up").click()
    _settled(driver, "#customer, #timeline-error")
    assert driver.current_url.endswith("/console/timeline")  # the RRN went in the body only
    assert f"{digits[:6]}-{digits[6]}******" in driver.find_element(By.ID, "customer").text
    rows = driver.find_elements(By.CSS_SELECTOR, "#entries tbody tr")
    assert rows and any("정보 조회·제공" in row.text for row in rows)
    assert "KST" in rows[0].text
    assert digits not in driver.page_source and digits[6:] not in driver.page_source
    recorded = driver.find_element(By.ID, "recorded").text
    index = int(recorded.split("기록 ")[1].split("번")[0].replace(",", ""))
    log = site["services"].access_log
    record = json.loads(log.record(index))
    assert record["kind"] == "console.view" and record["page"] == "timeline"
    assert record["customer"] == customer.key
    assert record["actor"]["employee"] == USERS["call_centre_agent"]
