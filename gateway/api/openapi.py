"""The published contract: every operation lists the problems it can answer with, and how to
authenticate.

FastAPI documents the happy path; the gateway also answers with RFC 9457 problem documents
(`application/problem+json`, one stable `type` per error, `gateway/errors.py`) and requires a
system-signed bearer JWT on every `/v1` route. Both are added to the generated schema here,
once, so a client generated from `/openapi.json` knows them (no per-request cost).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from gateway.policy import Policy, Purpose

PROBLEM_MEDIA_TYPE = "application/problem+json"
SECURITY_SCHEME = "systemToken"

# status → when it is answered (every /v1 operation can meet these)
PROBLEMS: dict[int, str] = {
    400: "Malformed request (body not JSON, bad `content-length`)",
    401: "Token missing, malformed, expired, replayed, or not signed by the system's key",
    403: "The calling system lacks the permission the route needs",
    404: "No such resource for this customer (never says whether it exists for another)",
    413: "Request body over the size limit",
    415: "Request body is not `application/json`",
    422: "Request does not fit the schema or the policy (nothing of it is echoed)",
    503: "A store or the access log is unavailable: nothing was released",
}

# the routes counted against the policy's rate limits (one customer per request)
RATE_LIMITED_PATHS = ("/v1/queries", "/v1/consents", "/v1/contact-stops")
RATE_LIMITED = (429, "A rate limit of the policy was reached (`…/problems/rate-limited`, with a "
                "`Retry-After` header, `measure`, `scope` and `retry_after`); the refusal is "
                "recorded and nothing was released or changed")


class ProblemError(BaseModel):
    location: str = Field(description="where in the body, by schema field names only")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the gateway's extension members."""

    type: str = Field(description="stable URI per error, e.g. `…/problems/token-replayed`")
    title: str
    status: int
    detail: str = Field(description="one line; never repeats what was sent")
    instance: str | None = Field(None, description="`urn:request:<request_id>`: this occurrence")
    request_id: str | None = None
    log_index: int | None = Field(None, description=(
        "index of the refusal's access record; absent for a caller whose token did not verify "
        "(those refusals are counted per source and minute: docs/REFUSALS.md)"))
    errors: list[ProblemError] | None = None
    measure: str | None = Field(None, description="rate-limited: `requests_per_minute`, "
                                "`customers_per_hour` or `customers_per_day`")
    scope: str | None = Field(None, description="rate-limited: whose limit, `system` or "
                              "`employee`")
    retry_after: int | None = Field(None, description="rate-limited: seconds until the window "
                                    "ends (as the `Retry-After` header)")


TOKEN_DESCRIPTION = (
    "A JWT (RFC 7519) signed by the calling system's private key with the algorithm pinned "
    "for it in the policy (`EdDSA`/`Ed25519` or `ES256`/`ESP256`); claims: `iss` the system "
    "id, `sub` the employee or batch job (an identifier, never a national id number), `aud` "
    "the gateway, `iat` and `exp` at most 300 s apart, a unique `jti` (each token is used "
    "once, whatever its request came to)."
)


def _enum(prop: dict[str, Any], values: list[str]) -> None:
    """Narrow a string property (or the string branch of a nullable one) to `values`."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            branch["enum"] = values


def _by_id(policy: Policy) -> list[Purpose]:
    return sorted(policy.purposes.values(), key=lambda p: str(p.id))


def _consent_terms(purpose: Purpose) -> dict[str, Any]:
    """A consent for `purpose`: its one channel (or none), and for marketing the customer told
    of the right to refuse; night-time contact only for marketing."""
    props: dict[str, Any] = {"purpose": {"const": str(purpose.id)},
                             "channel": ({"const": purpose.channel} if purpose.channel
                                         else {"type": "null"})}
    required = ["purpose"] + (["channel"] if purpose.channel else [])
    if purpose.marketing:
        props["refusal_right_notified"] = {"const": True}
        required.append("refusal_right_notified")
    else:
        props["night_contact"] = {"const": False}
    return {"properties": props, "required": required}


def publish_vocabulary(schema: dict[str, Any], policy: Policy) -> None:
    """The identifiers the policy in force defines, as enums of the request schemas: a client
    (and a schema-driven test) knows which purposes, attributes, views, affiliates and
    channels exist instead of learning them from 422s. Whether the caller may *use* one is
    still the decision's: this says what exists, not what is granted (`GET /v1/catalog`)."""
    schemas = schema.get("components", {}).get("schemas", {})
    purposes = sorted(str(p) for p in policy.purposes)
    attributes = sorted(str(a) for a in policy.attributes)
    affiliates = sorted(str(a) for a in policy.affiliates)
    channels = sorted(str(getattr(c, "value", c)) for c in policy.channels)
    views = sorted({str(v) for a in policy.attributes.values() for v in a.views})
    props = {name: model.get("properties", {}) for name, model in schemas.items()}
    for model in ("QueryIn", "ConsentIn", "CampaignIn"):
        if "purpose" in props.get(model, {}):
            _enum(props[model]["purpose"], purposes)
    query_items = props.get("QueryIn", {}).get("attributes", {}).get("items", {})
    if "anyOf" in query_items:  # a name, or {attribute, view} with a view of that attribute
        named: list[dict[str, Any]] = [{"type": "string", "enum": attributes}]
        query_items["anyOf"] = named + [
            {"type": "object", "additionalProperties": False, "required": ["attribute"],
             "properties": {"attribute": {"const": str(a.id)}, "view": {"anyOf": [
                 {"type": "string", "enum": sorted(str(v) for v in a.views)},
                 {"type": "null"}]}}}
            for a in sorted(policy.attributes.values(), key=lambda a: str(a.id))]
    for model, field in (("AttributeIn", "attribute"), ("SegmentFilterIn", "attribute")):
        if field in props.get(model, {}):
            _enum(props[model][field], attributes)
    for model in ("AttributeIn", "SegmentFilterIn"):
        if "view" in props.get(model, {}):
            _enum(props[model]["view"], views)
    if "recipient" in props.get("ConsentIn", {}):
        _enum(props["ConsentIn"]["recipient"], affiliates)
    for model in ("ConsentIn", "CampaignIn"):
        if "channel" in props.get(model, {}):
            _enum(props[model]["channel"], channels)
    stop = props.get("ContactStopIn", {})
    if "scope" in stop:
        _enum(stop["scope"], ["group", *affiliates])
    for branch in stop.get("channels", {}).get("anyOf", []):
        if branch.get("type") == "array":
            branch["items"]["enum"] = channels
    if "ConsentIn" in schemas:  # what each purpose asks of a consent (`consents._check_grant`)
        schemas["ConsentIn"]["anyOf"] = [_consent_terms(p) for p in _by_id(policy)]
    if "CampaignIn" in schemas:  # a campaign runs under a consent purpose, on its channel
        schemas["CampaignIn"]["anyOf"] = [
            {"properties": {"purpose": {"const": str(p.id)}, "channel": {"const": p.channel}}}
            for p in _by_id(policy) if p.marketing and p.consent_required and p.channel]
    campaign_attributes = props.get("CampaignIn", {}).get("attributes", {})
    for branch in campaign_attributes.get("anyOf", []):
        if branch.get("type") == "array":
            branch["items"]["enum"] = attributes


# (created by, status) → follow-up operations: how to act on what was just created, by its id
# and the customer's pseudonym from the answer (OpenAPI 3.1 §4.8.20, Link Object)
LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, str, dict[str, Any]]]] = {
    ("/v1/consents", "post", "201"): [
        ("Withdraw", "/v1/consents/{consent_id}/withdraw", "consent_id",
         "$response.body#/consent/id",
         {"customer": {"pseudonym": "$response.body#/consent/pseudonym"}}),
        ("Confirm", "/v1/consents/{consent_id}/confirm", "consent_id",
         "$response.body#/consent/id",
         {"customer": {"pseudonym": "$response.body#/consent/pseudonym"},
          "refusal_right_notified": True}),
    ],
    ("/v1/contact-stops", "post", "201"): [
        ("Lift", "/v1/contact-stops/{stop_id}/lift", "stop_id", "$response.body#/stop/id",
         {"customer": {"pseudonym": "$response.body#/stop/pseudonym"}}),
    ],
}


def publish_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        published = response.setdefault("links", {})
        for name, target, parameter, expression, body in links:
            operation_id = paths.get(target, {}).get("post", {}).get("operationId")
            if operation_id is not None:
                published[name] = {"operationId": operation_id,
                                   "parameters": {parameter: expression}, "requestBody": body}


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with one that adds the problems, the security scheme and the
    policy's identifiers (built again when the policy in force changes)."""
    built_for: list[str | None] = [None]

    def openapi() -> dict[str, Any]:
        services = getattr(app.state, "services", None)
        policy: Policy | None = services.policy.current if services is not None else None
        version = policy.version if policy is not None else None
        if app.openapi_schema is not None and built_for[0] == version:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for model in (ProblemError, Problem):
            schemas[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}")
        components["securitySchemes"] = {SECURITY_SCHEME: {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": TOKEN_DESCRIPTION}}
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1/"):
                continue
            for operation in operations.values():
                operation["security"] = [{SECURITY_SCHEME: []}]
                responses = operation.setdefault("responses", {})
                problems = dict(PROBLEMS)
                if path.startswith(RATE_LIMITED_PATHS):
                    problems[RATE_LIMITED[0]] = RATE_LIMITED[1]
                for status, why in sorted(problems.items()):
                    responses[str(status)] = {"description": why, "content": {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
                for status, response in responses.items():  # a route's own (e.g. 409, 429)
                    if status.isdigit() and int(status) >= 400 and "content" not in response:
                        response["content"] = {PROBLEM_MEDIA_TYPE: {
                            "schema": {"$ref": "#/components/schemas/Problem"}}}
        publish_links(schema)
        if policy is not None:
            publish_vocabulary(schema, policy)
        app.openapi_schema, built_for[0] = schema, version
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
