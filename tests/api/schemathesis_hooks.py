"""Schemathesis hooks for `test_api_schemathesis`: a fresh single-use token for every request.

Loaded by the `st` CLI through `SCHEMATHESIS_HOOKS` (not collected by pytest: no `test_`
prefix). The gateway refuses a token presented twice (`jti`, RFC 7519 §4.1.7), so the auth
provider caches nothing (`refresh_interval=None`): each request, retries included, gets a
token minted just before it is sent. Each operation is called by a system that holds the
permission the route needs, so the run reaches the routes' own logic instead of stopping at
403; the employee behind the call is drawn from a small pool so that the per-employee rate
limits of the policy are not what every request meets. Settings come from the same
`GATEWAY_*` environment as the server under test.

The run also needs:
- `positive_refusals_name_a_rule`, a check: a schema-valid request may be refused with 422 only
  for a rule the schema cannot express (listed in `SEMANTIC_422` with the reason), never with
  the plain schema failure `validation`, which would mean the published schema and the
  server's validation disagree (`schemathesis.toml` lets `positive_data_acceptance` take 422
  because this check is the stricter judge of it);
- every exchange (what was sent, and the problem document answered) is appended to the file
  named by `ST_EXCHANGES` as one JSON line, for the echo scan of `test_api_schemathesis`;
- every other schema-valid request naming a customer names one of the seeded customers held by
  the card company (any RRN the generator draws is almost never anyone's, so the answers would
  all be 404): the run then reaches releases, consents, stops and histories, and their 200/201
  answers are checked against the published response schemas too.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import schemathesis

from gateway.keys import mint_token
from gateway.policy import load_policy
from gateway.settings import Settings

# route prefix → a system of the shipped policy holding the permission it needs
# (policies/affiliates.yaml); the first match wins
CALLERS: tuple[tuple[str, str], ...] = (
    ("/v1/queries", "card-risk"),  # query
    ("/v1/consents", "holding-customer-center"),  # consent:*, any group customer
    ("/v1/contact-stops", "holding-customer-center"),  # contact_stop:*
    ("/v1/customers", "holding-customer-center"),  # history:read
    ("/v1/campaigns", "card-marketing"),  # campaign:run
    ("/v1/releases", "card-risk"),  # a recipient confirming destruction
    ("/v1/pseudonyms", "bank-fraud"),  # pseudonym:map
    ("/v1/log", "holding-audit"),  # log:read
    ("/v1/admin", "holding-privacy"),  # policy:reload, policy:approve
    ("/v1/catalog", "card-risk"),
)
EMPLOYEES = 64

_settings = Settings()
_policy = load_policy(Path(_settings.policy_dir), Path(_settings.public_keys_dir))
_algorithms = {str(system.id): system.algorithm for system in _policy.systems.values()}
_employees = itertools.cycle([f"st-{n:03d}" for n in range(EMPLOYEES)])


def _seeded_customers() -> list[str]:
    """The national id numbers (synthetic, seeded) of customers the card company holds."""
    from sqlalchemy import create_engine, select

    from gateway.db.models import Customer, Relationship
    from pseudonymizer.keys import FileKeyProvider
    from pseudonymizer.vault import RrnVault

    vault = RrnVault(FileKeyProvider(_settings.secrets_path))
    engine = create_engine(_settings.gateway_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Customer.customer_key, Customer.rrn_ciphertext)
                .join(Relationship, Relationship.customer_key == Customer.customer_key)
                .where(Relationship.affiliate == "card").order_by(Customer.customer_key)
            ).all()
    finally:
        engine.dispose()
    return [vault.decrypt(row.rrn_ciphertext, row.customer_key) for row in rows]


_customers = _seeded_customers()
_turn = itertools.count()


def caller_for(path: str) -> str:
    for prefix, system in CALLERS:
        if path.startswith(prefix):
            return system
    return "card-risk"


@schemathesis.auth(refresh_interval=None)
class FreshSystemToken:
    """A token minted per request by the system the operation needs (never reused)."""

    def get(self, case: Any, ctx: Any) -> str:
        system = caller_for(case.operation.path)
        return mint_token(_settings.secrets_path / "systems" / f"{system}.key.pem",
                          system=system, employee=next(_employees),
                          audience=_settings.audience, lifetime_s=120,
                          algorithm=_algorithms[system])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# 422 problem types a schema-valid request may meet: each a rule no JSON Schema can state
SEMANTIC_422: dict[str, str] = {
    "malformed-rrn": "a leap day or a birth date in the future for the century digit (the "
                     "published pattern covers the notation and the calendar otherwise)",
    "unknown-pseudonym": "a pseudonym is authenticated by the key of the affiliate it was "
                         "issued to: only the gateway can tell a real one",
    "pseudonym-expired": "a pseudonym of a retired key version past its grace period",
    "proof-range": "proof and record ranges are bounded by the log's size at the time",
    "receipt-invalid": "a receipt must carry this gateway's signature",
    "history-cursor-invalid": "a cursor must be one this log issued",
    "history-period-invalid": "`since` before `until`, relative to each other",
    "consent-expiry-past": "`expires_at` must be in the future: a rule of the clock",
    "national-id-in-text": "free text holding what reads as a national id number, in any "
                           "notation, is refused (`pseudonymizer.rrn.contains_national_id`)",
    "duplicate-attribute": "no JSON Schema keyword says \"unique by name\" across a name and "
                           "an {attribute, view} item",
    "campaign-invalid": "what a campaign may name depends on the calling system's grants "
                        "(`GET /v1/catalog`), and the schema is one for every caller",
    "segment-not-permitted": "which attributes and views a recipient may filter on is its own "
                             "grant (the policy's `segments:`)",
    "segment-value-malformed": "a filter value has the shape of the view named beside it (a "
                               "band `{gte, lt}` for `band`, text for `sido`...)",
}


@schemathesis.check
def positive_refusals_name_a_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    data = getattr(meta.phase, "data", None)
    where = getattr(data, "parameter_location", None)
    if where is not None and str(getattr(where, "value", where)) != "body" and case.body == 0:
        # a coverage scenario about a query parameter, sent with a filler body (`0`) that is
        # not a value of the body's schema: nothing about the body is claimed
        return None
    try:
        slug = str(response.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        slug = ""
    if slug not in SEMANTIC_422:
        raise AssertionError(f"a schema-valid request was refused with 422 `{slug}`: the "
                             f"published schema and the server's validation disagree")
    return None


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    meta, body = case.meta, case.body
    if (meta is not None and meta.generation.mode.is_positive and isinstance(body, dict)
            and isinstance(body.get("customer"), dict) and _customers
            # a stateful step's link names the customer by the pseudonym it was answered with
            and (str(meta.phase.name) != "stateful" or "rrn" in body["customer"])):
        turn = next(_turn)
        if turn % 2 == 0:
            case.body = {**body, "customer": {"rrn": _customers[turn // 2 % len(_customers)]}}
    return case


def _phase(case: Any) -> str:
    meta = case.meta
    if meta is None:
        return ""
    data = getattr(meta.phase, "data", None)
    return " ".join(str(p) for p in (meta.phase.name, getattr(data, "description", ""),
                                       getattr(data, "parameter", ""),
                                       getattr(data, "parameter_location", "")) if p)


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    path = os.environ.get("ST_EXCHANGES")
    if not path:
        return
    request = response.request
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    answer = response.content.decode("utf-8", "replace") if "problem" in ctype else None
    line = {"operation": f"{case.method} {case.operation.path}", "method": request.method,
            "url": request.url, "body": body, "status": response.status_code,
            "positive": bool(case.meta and case.meta.generation.mode.is_positive),
            "problem": answer, "phase": _phase(case)}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
