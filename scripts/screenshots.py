#!/usr/bin/env python3
"""Screenshots of the console's main pages, taken from the demo, into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--customers 2000]

Sets up the demo in a temporary data folder (`gateway demo --no-serve`, the same seeding and
demo users as `python3 tasks.py demo`), asks a few questions as the demo's systems so that the
log has records, serves the gateway on a free port and drives Debian's headless Chromium
(`chromium`, `chromium-driver`) through the pages as the demo users. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the browser helpers are shared with the browser tests

from tests.console.browser import chromium, free_port, missing_browser, serving  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def _env(data_dir: Path) -> dict[str, str]:
    # a public keys folder of its own: the repository's `keys/` may hold another demo's keys
    return dict(os.environ, GATEWAY_DATA_DIR=str(data_dir),
                GATEWAY_PUBLIC_KEYS_DIR=str(data_dir / "public-keys"))


def _demo(data_dir: Path, customers: int) -> None:
    env = dict(_env(data_dir), GATEWAY_DEMO="true")
    subprocess.run([str(ROOT / ".venv" / "bin" / "gateway"), "demo", "--no-serve",
                    "--customers", str(customers)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def _traffic(base: str, settings: object) -> None:
    """A few queries as the demo's systems, so that the pages have records to show."""
    import httpx

    from gateway.keys import mint_token

    example = json.loads((Path(settings.data_dir) / "example-query.json").read_text("utf-8"))  # type: ignore[attr-defined]
    for employee in ("kim.risk", "kim.risk", "park.risk"):
        token = mint_token(Path(settings.secrets_path) / "systems" / "card-risk.key.pem",  # type: ignore[attr-defined]
                           system="card-risk", employee=employee,
                           audience=settings.audience, lifetime_s=60, algorithm="ES256")  # type: ignore[attr-defined]
        httpx.post(f"{base}/v1/queries", json=example,
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    why = missing_browser()
    if why is not None:
        print(f"cannot take screenshots: {why}", file=sys.stderr)
        return 2
    import pyotp
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from gateway.api.app import create_app
    from gateway.console.demo_users import DEMO_USERS
    from gateway.settings import Settings

    OUT.mkdir(parents=True, exist_ok=True)
    users = {u.role: u for u in DEMO_USERS}
    with tempfile.TemporaryDirectory(prefix="gateway-screenshots-") as tmp:
        data_dir = Path(tmp) / "data"
        _demo(data_dir, args.customers)
        settings = Settings(data_dir=data_dir, public_keys_dir=data_dir / "public-keys",
                            demo=True, console_secure_cookies=False, policy_watch_interval_s=0)
        with serving(create_app(settings), free_port()) as base, \
                chromium(1280, 900) as driver:
            _traffic(base, settings)

            def settle(css: str) -> None:
                WebDriverWait(driver, 20).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, css))

            def sign_in(role: str) -> None:
                user = users[role]
                driver.delete_all_cookies()
                driver.get(f"{base}/console/signin")
                driver.find_element(By.ID, "username").send_keys(user.username)
                driver.find_element(By.ID, "password").send_keys(user.password)
                if user.totp_secret:
                    driver.find_element(By.ID, "code").send_keys(
                        pyotp.TOTP(user.totp_secret).now())
                driver.find_element(By.ID, "signin").click()
                settle(".account, #signin-error")

            def shot(name: str) -> None:
                # the Korean font is 4.7 MB: wait until the page uses it
                driver.execute_async_script(
                    "const done = arguments[0];"
                    "document.fonts.load('16px NanumGothic', '한').then("
                    "() => document.fonts.ready).then(() => done(true));")
                height = driver.execute_script("return document.body.scrollHeight")
                driver.set_window_size(1280, max(600, min(int(height) + 40, 2400)))
                driver.save_screenshot(str(OUT / f"{name}.png"))
                driver.set_window_size(1280, 900)
                print(f"wrote {OUT / name}.png")

            driver.get(f"{base}/console/signin")
            shot("signin")
            sign_in("privacy_officer")
            shot("home")
            # the demo month's review (the month just ended), with its planted insider
            driver.get(f"{base}/console/review")
            settle("#signoff-form")
            shot("review")
            driver.get(f"{base}/console/log")
            shot("log")
            # the officer's own export, uploaded back and verified
            export = Path(tmp) / "export.tar.gz"
            subprocess.run([str(ROOT / ".venv" / "bin" / "gateway"), "log", "export",
                            "--out", str(export), "--exported-by", "스크린샷 스크립트"],
                           cwd=ROOT, env=_env(data_dir),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            driver.find_element(By.ID, "archive").send_keys(str(export))
            driver.find_element(By.ID, "verify").click()
            settle("#verdict")
            shot("log-verified")
            driver.get(f"{base}/console/?lang=en")
            shot("home-en")
            driver.get(f"{base}/console/?lang=ko")
            sign_in("call_centre_agent")
            # the demo's example customer, looked up by the agent (RRN typed, never printed)
            example = json.loads((data_dir / "example-query.json").read_text("utf-8"))
            driver.get(f"{base}/console/timeline")
            driver.find_element(By.ID, "rrn").send_keys(example["customer"]["rrn"])
            driver.find_element(By.ID, "look-up").click()
            settle("#customer, #timeline-error")
            shot("timeline")
            driver.get(f"{base}/console/log")
            settle("#error-title")
            shot("forbidden")
            driver.get(f"{base}/docs")
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
            shot("docs")
    print(f"done at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
