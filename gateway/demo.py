"""The demo's example request: a synthetic customer the README's curl command can ask about.

The example names the customer by RRN, as an affiliate system would. The RRN is decrypted
from the gateway's own registry (the demo runs where the keys are) and written only to the
local, git-ignored data folder — never printed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from gateway.db.engine import make_engine
from gateway.db.models import Customer, Relationship
from gateway.settings import Settings
from pseudonymizer.keys import FileKeyProvider
from pseudonymizer.vault import RrnVault

EXAMPLE_SYSTEM = "card-risk"
EXAMPLE_PURPOSE = "credit_risk"
EXAMPLE_ATTRIBUTES: list[object] = [
    {"attribute": "deposit_balance", "view": "band"},  # asks for a band explicitly
    "loan_balance",  # no view asked: the least revealing one the rule allows (yes/no)
    "credit_grade",
    "mobile_phone",  # credit risk does not need it: withheld, reason no_rule
]


@dataclass(frozen=True)
class Example:
    path: Path
    data_dir: Path
    log_keys_dir: Path

    def instructions(self, host: str, port: int) -> str:
        base = f"http://{host}:{port}"
        return f"""
The gateway is starting on {base}  (OpenAPI: {base}/openapi.json, docs: {base}/docs)

In another terminal, ask as the card company's risk system:

  TOKEN=$(.venv/bin/gateway token {EXAMPLE_SYSTEM} --employee kim.risk)
  curl -s {base}/v1/queries -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d @{self.path} | python3 -m json.tool --no-ensure-ascii

The request ({self.path}) names a synthetic customer held by the bank and the card company.
Tokens are single-use and live two minutes: mint a new one for every call.

Every answer above is a record in the signed access log. Export it for a regulator and
verify it offline, trusting only the published log key:

  .venv/bin/gateway log export --out {self.data_dir}/export.tar.gz --exported-by demo
  .venv/bin/gateway-verify {self.data_dir}/export.tar.gz --key-file <(cat {self.log_keys_dir}/*.vkey)

Privacy officers: `.venv/bin/gateway policy check`, `policy test`, `policy diff HEAD~1 HEAD`,
`policy explain --help`. Policy AUTO-APPLY is on in this demo: a changed, valid policy set goes
live by itself. Outside the demo it waits, pending, until a second officer approves it:
`gateway policy propose --officer NAME`, then `gateway policy approve VERSION --officer OTHER`.
"""


def write_example(settings: Settings) -> Example:
    """Pick a customer held by both bank and card and write the README's example request."""
    engine = make_engine(settings.gateway_url)
    try:
        with engine.connect() as conn:
            card_holders = select(Relationship.customer_key).where(
                Relationship.affiliate == "card")
            row = conn.execute(
                select(Customer.customer_key, Customer.rrn_ciphertext)
                .join(Relationship, Relationship.customer_key == Customer.customer_key)
                .where(Relationship.affiliate == "bank",
                       Customer.customer_key.in_(card_holders))
                .order_by(Customer.customer_key)
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    vault = RrnVault(FileKeyProvider(settings.secrets_path))
    digits = vault.decrypt(row.rrn_ciphertext, row.customer_key)
    request = {
        "customer": {"rrn": f"{digits[:6]}-{digits[6:]}"},
        "purpose": EXAMPLE_PURPOSE,
        "attributes": EXAMPLE_ATTRIBUTES,
    }
    path = settings.data_dir / "example-query.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(request, out, ensure_ascii=False, indent=2)
    return Example(path=path, data_dir=settings.data_dir,
                   log_keys_dir=Path(settings.public_keys_dir) / "log")


def write_review_month(settings: Settings) -> str:
    """Once per data folder: a month of access records for the monthly review (the previous
    KST month, with three history months and one planted insider, `review/demo_month.py`).
    Returns the demo month and how to review it."""
    from datetime import UTC, datetime

    from gateway.policy import load_policy
    from gateway.review.demo_month import PLANTED, write_demo_month
    from gateway.review.period import Month

    marker = settings.data_dir / "review-demo-month"
    if marker.is_file():
        month = marker.read_text("utf-8").strip()
    else:
        month = str(Month.of(datetime.now(UTC)).previous())
        policy = load_policy(Path(settings.policy_dir), Path(settings.public_keys_dir))
        engine = make_engine(settings.gateway_url)
        try:
            write_demo_month(engine, policy, Month.parse(month))
        finally:
            engine.dispose()
        marker.write_text(month + "\n", "utf-8")
    return f"""
Monthly access review of the demo month {month} (planted insider: `{PLANTED[1]}`):

  .venv/bin/gateway review --month {month} --format html --out {settings.data_dir}/review-{month}.html
  .venv/bin/gateway review --month {month} --format pdf --out {settings.data_dir}/review-{month}.pdf
  .venv/bin/gateway review sign-off --month {month} --reviewer "홍길동 고객정보관리인" --comment "..."

In the console (privacy officer, auditor, inspector): /console/review/{month}
"""
