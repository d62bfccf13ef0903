"""The pending-policy page: a changed set waits with its diff (widenings marked), its matrix and
its problems (linked to their lines); one officer proposes, another approves, and only then is
it live, with both named in the record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyotp
import pytest

from gateway.console.users import ConsoleUsers
from tests.api.conftest import build_settings, start_harness
from tests.console.conftest import PASSWORD, SECRETS, USERS, ConsoleHarness, add_users
from tests.conftest import writable_policies

SECOND = ("jung.officer", "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK")  # a second privacy officer
XSS = '<script>alert("x")</script>'
RULE_LINE = "      annual_income: band\n"  # first occurrence: rule card-credit-risk-from-bank
PHONE_RULE = "    purpose: marketing_phone\n    systems: [insurance-marketing]\n    attributes:\n"


@pytest.fixture()
def policies(tmp_path: Path, policy_dir: Path) -> Path:
    return writable_policies(policy_dir, tmp_path)


@pytest.fixture()
def pc(tmp_path: Path, policies: Path) -> Iterator[ConsoleHarness]:
    settings = build_settings(tmp_path, policies).model_copy(
        update={"console_secure_cookies": False, "policy_watch_interval_s": 0})
    for gw in start_harness(settings):
        add_users(gw)
        ConsoleUsers(gw.services.gateway_engine).add(
            username=SECOND[0], display_name="정 담당", affiliate="holding", password=PASSWORD,
            role=gw.services.policy.current.console_roles["privacy_officer"],
            now=datetime.now(timezone.utc), totp_secret=SECOND[1])
        yield ConsoleHarness(gw)


def sign_in_second(pc: ConsoleHarness) -> None:
    pc.forget_used_codes()
    client = pc.gw.client
    client.cookies.clear()
    token = pc.csrf(client.get("/console/signin").text)
    response = client.post("/console/signin", data={
        "csrf_token": token, "username": SECOND[0], "password": PASSWORD,
        "code": pyotp.TOTP(SECOND[1]).now()}, follow_redirects=False)
    assert response.status_code == 303, response.text


def edit(policies: Path) -> None:
    """Close one access (income band for card credit risk) and open one (address for the
    insurer's phone marketing): one narrowing, one widening."""
    rules = policies / "rules.yaml"
    text = rules.read_text("utf-8").replace(RULE_LINE, "", 1)
    rules.write_text(text.replace(PHONE_RULE, PHONE_RULE + "      address: sido\n", 1), "utf-8")


def post(pc: ConsoleHarness, action: str, **fields: str) -> Any:
    client = pc.gw.client
    token = pc.csrf(client.get("/console/policy").text)
    return client.post(f"/console/policy/{action}", data={"csrf_token": token, **fields})


def live(pc: ConsoleHarness) -> str:
    return pc.gw.services.policy.current.version


def test_a_change_waits_until_a_second_officer_approves_it(
    pc: ConsoleHarness, policies: Path
) -> None:
    old = live(pc)
    pc.sign_in("privacy_officer")
    page = pc.gw.client.get("/console/policy")
    assert page.status_code == 200 and "none-pending" in page.text and old in page.text

    edit(policies)
    found = pc.gw.services.reloader.reload("file-watch")  # what the watcher does
    assert found.outcome == "pending" and found.version is not None
    new = found.version
    page = pc.gw.client.get("/console/policy").text
    assert f'<code id="pending-version">{new}</code>' in page
    assert 'id="not-proposed"' in page and 'id="propose"' in page and 'id="approve"' not in page
    # the diff: the opened access is a widening, marked; the closed one is not
    assert "넓어지는 변경 1건" in page
    opened = re.search(r'<tr class="widening">\s*<td>새로 열림 ▲</td>.*?</tr>', page, re.S)
    assert opened and "insurance" in opened.group(0) and "address" in opened.group(0)
    assert "닫힘" in page
    # the matrix: what the insurer receives for phone marketing, in Korean, change marked
    assert 'id="matrix"' in page and "<h3>한빛손해보험 <code>insurance</code></h3>" in page
    assert re.search(r'<td class="changed widening">sido ▲</td>', page)
    assert live(pc) == old

    # the first officer proposes; they may not approve it themselves
    assert post(pc, "propose").status_code == 200
    page = pc.gw.client.get("/console/policy").text
    assert "제안: kim.officer" in page and 'id="own"' in page and 'id="approve"' not in page
    refused = post(pc, "approve", version=new)
    assert "내가 제안한 정책은 승인할 수 없습니다" in refused.text
    assert live(pc) == old
    assert pc.records("policy.approval_refused")[-1]["reason"] == "self-approval"

    # a second officer approves that exact version: it goes live
    sign_in_second(pc)
    page = pc.gw.client.get("/console/policy").text
    assert 'id="approve"' in page and f'name="version" value="{new}"' in page
    done = post(pc, "approve", version=new)
    assert "승인했습니다" in done.text
    assert live(pc) == new
    approved = pc.records("policy.approved")[-1]
    assert (approved["proposed_by"], approved["approved_by"]) == (USERS["privacy_officer"],
                                                                  SECOND[0])
    assert approved["actor"]["via"] == "console" and approved["new_version"] == new
    proposed = pc.records("policy.proposed")[-1]
    assert proposed["actor"]["employee"] == USERS["privacy_officer"]
    assert "none-pending" in pc.gw.client.get("/console/policy").text


def test_a_stale_version_is_not_approved(pc: ConsoleHarness, policies: Path) -> None:
    old = live(pc)
    edit(policies)
    first = pc.gw.services.reloader.reload("file-watch").version
    rules = policies / "rules.yaml"
    rules.write_text(rules.read_text("utf-8") + "# 두 번째 수정\n", "utf-8")
    pc.sign_in("privacy_officer")
    assert post(pc, "propose").status_code == 200
    sign_in_second(pc)
    assert first is not None
    response = post(pc, "approve", version=first)
    assert "지금 대기 중인 정책이 아닙니다" in response.text
    assert live(pc) == old


def test_problems_are_in_korean_with_a_link_to_the_line(
    pc: ConsoleHarness, policies: Path
) -> None:
    rules = policies / "rules.yaml"
    text = rules.read_text("utf-8")
    line = text[: text.index("    recipient: card\n")].count("\n") + 1
    rules.write_text(text.replace("    recipient: card\n", "    recipient: 한빛카드\n", 1), "utf-8")
    assert pc.gw.services.reloader.reload("file-watch").outcome == "rejected"
    pc.sign_in("privacy_officer")
    page = pc.gw.client.get("/console/policy").text
    assert "none-pending" in page  # an invalid set is never pending
    assert "P014" in page and "id `card`(한빛카드)을(를) 쓰세요" in page
    link = f'/console/policy/files/rules.yaml?pending=false#L{line}'
    assert f'href="{link}"' in page
    assert 'id="propose"' not in page  # nothing to propose while the files have errors
    source = pc.gw.client.get(link.split("#")[0])
    assert source.status_code == 200
    assert f'<li id="L{line}"><code>    recipient: 한빛카드</code></li>' in source.text
    assert pc.gw.client.get("/console/policy/files/secrets.yaml").status_code == 404


def test_names_from_the_policy_are_escaped(pc: ConsoleHarness, policies: Path) -> None:
    purposes = policies / "purposes.yaml"
    text = purposes.read_text("utf-8")
    assert "name_ko: 교차판매 마케팅 (상담원 전화)" in text
    purposes.write_text(text.replace("name_ko: 교차판매 마케팅 (상담원 전화)",
                                     f"name_ko: '교차판매 {XSS}'", 1), "utf-8")
    edit(policies)
    assert pc.gw.services.reloader.reload("file-watch").outcome == "pending"
    pc.sign_in("privacy_officer")
    page = pc.gw.client.get("/console/policy").text
    assert XSS not in page and "&lt;script&gt;" in page


def test_only_officers_open_the_page_and_forms_need_the_csrf_token(pc: ConsoleHarness) -> None:
    pc.sign_in("auditor")
    assert pc.gw.client.get("/console/policy").status_code == 403
    pc.sign_in("privacy_officer")
    refused = pc.gw.client.post("/console/policy/approve", data={"version": "sha256:00"})
    assert refused.status_code == 403
    assert SECRETS  # the auditor and officer sign in with their second factor
