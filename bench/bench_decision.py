"""Micro-benchmark of the pure decision (policy × purpose × consents), one core.

    .venv/bin/python bench/bench_decision.py [--rounds 50000]

Decides requests of 5 attributes on the shipped policy, in the same run:
- `planned`: the request path's `decide` — the rules' part of the request is looked up in the
  per-policy plan (worked out the first time a recipient, system, purpose and list of
  attributes and views come together; finished there when nothing needs a consent), then the
  request's own contact stop and consents are weighed;
- `worked out`: the same decision with every step worked out again, as `policy explain` does
  (a trace is kept), the baseline.
Two requests: internal management (no consent needed) and marketing with a covering consent
(the consents are weighed once per category of the request). Demo keys are generated in a temporary
folder (the policy loader checks every system's key). Not a test: the figure goes in the README.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.domain import (  # noqa: E402
    AffiliateId,
    AttributeId,
    AttributeRequest,
    Caller,
    Category,
    ConsentId,
    ConsentRecord,
    CustomerKey,
    DecisionRequest,
    PurposeId,
    SystemId,
)
from gateway.keys import generate_system_keys  # noqa: E402
from gateway.policy import Policy, decide, load_policy  # noqa: E402
from gateway.policy.trace import DecisionTrace  # noqa: E402

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
CUSTOMER = CustomerKey("0" * 32)


def request(policy: Policy, system: str, purpose: str, attributes: list[str]) -> DecisionRequest:
    who = policy.systems[SystemId(system)]
    return DecisionRequest(
        caller=Caller(who.affiliate, who.id, "bench", "t"), purpose=PurposeId(purpose),
        attributes=tuple(AttributeRequest(AttributeId(a)) for a in attributes),
        customer_known=True, now=NOW)


def marketing_consent(channel: str) -> ConsentRecord:
    return ConsentRecord(
        id=ConsentId("cns_bench"), customer=CUSTOMER, recipient=AffiliateId("card"),
        purpose=PurposeId("marketing_sms"),
        categories=frozenset({Category.IDENTITY, Category.CONTACT, Category.FINANCIAL}),
        channel=channel, granted_at=NOW - timedelta(days=30), expires_at=None,
        withdrawn_at=None, evidence_ref="bench", night_contact=False,
        confirmed_at=NOW - timedelta(days=30), refusal_right_notified=True)


def per_call(run: Callable[[], object], rounds: int) -> float:
    run()  # the first call works the plan out
    started = time.perf_counter()
    for _ in range(rounds):
        run()
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp)
        generate_system_keys(ROOT / "policies", keys / "public", keys / "private")
        policy = load_policy(ROOT / "policies", keys / "public")
    five = ["name", "deposit_balance", "mobile_phone", "address", "annual_income"]
    consent = marketing_consent(policy.purposes[PurposeId("marketing_sms")].channel or "sms")
    cases = [
        ("credit_risk, no consent needed", request(
            policy, "card-risk", "credit_risk",
            ["deposit_balance", "loan_balance", "credit_grade", "annual_income", "mobile_phone"]),
         []),
        ("marketing_sms, consent covers", request(policy, "card-marketing", "marketing_sms", five),
         [consent]),
    ]
    print(f"decide(), 5 attributes, shipped policy ({len(policy.rules)} rules), "
          f"{args.rounds:,} rounds each, one core")
    print(f"{'request':<34} {'planned µs':>11} {'worked out µs':>14} {'ratio':>7}")
    for label, req, consents in cases:
        planned = per_call(lambda: decide(policy, req, consents), args.rounds)
        worked = per_call(lambda: decide(policy, req, consents, trace=DecisionTrace()),
                          args.rounds)
        assert decide(policy, req, consents) == decide(policy, req, consents,
                                                       trace=DecisionTrace())
        print(f"{label:<34} {planned:>11.2f} {worked:>14.2f} {worked / planned:>6.1f}×")


if __name__ == "__main__":
    main()
