"""Four eyes in a real browser: one officer proposes the pending policy, a second approves it;
it goes live and the record names both (headless Chromium against a real uvicorn server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyotp
import pytest

from gateway.api.app import create_app
from gateway.console.users import ConsoleUsers
from tests.api.conftest import AFFILIATE_TABLES, build_settings
from tests.console.browser import chromium, free_port, missing_browser, serving
from tests.console.conftest import PASSWORD
from tests.conftest import writable_policies

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OFFICERS = {"kim.officer": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "jung.officer": "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK"}
PHONE_RULE = "    purpose: marketing_phone\n    systems: [insurance-marketing]\n    attributes:\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[dict[str, Any]]:
    why = missing_browser()
    if why is not None:
        pytest.skip(why)
    from gateway.affiliates.schema import create_affiliate_schema
    from gateway.db.migrate import upgrade
    from gateway.keys import generate_system_keys
    from gateway.services import Services, ensure_secrets

    tmp = tmp_path_factory.mktemp("policy-browser")
    policies = writable_policies(policy_dir, tmp)
    settings = build_settings(tmp, policies).model_copy(
        update={"console_secure_cookies": False, "policy_watch_interval_s": 0})
    ensure_secrets(settings, create=True)
    generate_system_keys(policies, Path(settings.public_keys_dir), settings.secrets_path)
    upgrade(settings.gateway_url)
    services = Services.build(settings)
    for affiliate in AFFILIATE_TABLES:
        create_affiliate_schema(services.affiliates.engine(affiliate), affiliate)
    users = ConsoleUsers(services.gateway_engine)
    role = services.policy.current.console_roles["privacy_officer"]
    for username, secret in OFFICERS.items():
        users.add(username=username, display_name=f"{username} 담당", role=role,
                  affiliate="holding", password=PASSWORD, now=datetime.now(timezone.utc),
                  totp_secret=secret)
    app = create_app(settings, services=services)
    with serving(app, free_port()) as base, chromium() as driver:
        yield {"base": base, "driver": driver, "services": services, "policies": policies}
    services.close()


def _settled(driver: Any, css: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def _sign_in(site: dict[str, Any], username: str) -> Any:
    from selenium.webdriver.common.by import By

    driver = site["driver"]
    driver.delete_all_cookies()
    driver.get(site["base"] + "/console/signin")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(OFFICERS[username]).now())
    driver.find_element(By.ID, "signin").click()
    _settled(driver, ".account")
    return driver


def _records(services: Any, kind: str) -> list[dict[str, Any]]:
    log = services.access_log
    return [doc for doc in (json.loads(r) for r in log.records(0, log.size()))
            if doc["kind"] == kind]


def test_a_second_officer_approves_in_the_browser_and_it_goes_live(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    services = site["services"]
    old = services.policy.current.version
    rules: Path = site["policies"] / "rules.yaml"
    rules.write_text(rules.read_text("utf-8").replace(
        PHONE_RULE, PHONE_RULE + "      address: sido\n", 1), "utf-8")
    new = services.reloader.reload("file-watch").version  # what the file watch does

    driver = _sign_in(site, "kim.officer")
    driver.get(site["base"] + "/console/policy")
    assert driver.find_element(By.ID, "pending-version").text == new
    assert "넓어지는 변경 1건" in driver.find_element(By.ID, "widenings").text
    driver.find_element(By.ID, "propose").click()
    _settled(driver, "#proposed-by")
    assert driver.find_elements(By.ID, "own") and not driver.find_elements(By.ID, "approve")
    assert services.policy.current.version == old

    driver = _sign_in(site, "jung.officer")
    driver.get(site["base"] + "/console/policy")
    driver.find_element(By.ID, "approve").click()
    _settled(driver, "#none-pending")
    assert driver.find_element(By.ID, "live-version").text == new
    assert services.policy.current.version == new
    approved = _records(services, "policy.approved")[-1]
    assert (approved["proposed_by"], approved["approved_by"]) == ("kim.officer", "jung.officer")
    assert approved["new_version"] == new and approved["old_version"] == old
