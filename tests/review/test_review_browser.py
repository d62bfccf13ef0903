"""The review page in a real browser: charts drawn from the demo data, and a sign-off."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.accesslog.bulk import bulk_append
from gateway.review.demo_month import PLANTED, demo_records
from tests.console.test_console_browser import (
    XSS,
    _fresh_code,
    _no_injection,
    _settled,
    _sign_in,
)
from tests.console.test_console_browser import site as site  # noqa: F401  (the fixture)

from .conftest import CUSTOMERS, MONTH

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_review_page_renders_its_charts_and_takes_a_sign_off(
        site: dict[str, Any]) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    services = site["services"]
    bulk_append(services.log_engine, demo_records(services.policy.current, CUSTOMERS, MONTH),
                create_tables=False)
    driver = _sign_in(site, "auditor", _fresh_code(site, "auditor"))
    driver.get(f"{site['base']}/console/review/{MONTH}")
    _settled(driver, "#signoff-form")
    drawn = driver.execute_script(
        "return [...document.querySelectorAll('img.chart')]"
        ".map(i => i.complete && i.naturalWidth > 100)")
    assert drawn == [True] * 6  # every chart decoded and drawn by the browser
    assert PLANTED[1] in driver.find_element(By.CSS_SELECTOR, "#outliers td.flag").text
    assert "KST" in driver.page_source

    driver.find_element(By.ID, "signoff-comment").send_keys(XSS)
    driver.find_element(By.ID, "signoff-submit").click()
    _settled(driver, ".flash")
    assert "접근 기록에 남았습니다" in driver.find_element(By.CLASS_NAME, "flash").text
    _no_injection(driver)
    assert XSS in driver.find_element(By.TAG_NAME, "body").text  # shown as text
