"""Bad input gets a clear 4xx problem document, never a 500 and never a partial release."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import BANK_ROW, Harness

PROBLEMS = "https://gateway.example-holdings.co.kr/problems/"


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEMS + slug
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert "released" not in body
    return body


@pytest.mark.parametrize(
    ("rrn", "says"),
    [
        ("900101-123456", "13"),  # one digit short
        ("900101-12345678", "13"),  # one digit long
        ("901301-1234567", "date"),  # month 13
        ("900230-1234567", "date"),  # 30 February
        ("900101-A234567", "digit"),  # a letter
    ],
)
def test_malformed_rrn_is_422_without_echo(gw: Harness, rrn: str, says: str) -> None:
    response = gw.query("card-risk", {"rrn": rrn}, "credit_risk", ["credit_grade"])
    body = assert_problem(response, 422, "malformed-rrn")
    assert says in body["detail"].lower()
    digits = rrn.replace("-", "")
    assert digits not in response.text and rrn not in response.text
    assert "log_index" in body  # the refusal is recorded too


def test_unknown_purpose(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    body = assert_problem(gw.query("card-risk", customer.ref, "gossip", ["credit_grade"]),
                          422, "unknown-purpose")
    assert "gossip" not in json.dumps(body)  # what was sent never comes back


def test_unknown_attribute(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    body = assert_problem(gw.query("card-risk", customer.ref, "credit_risk",
                                   ["credit_grade", "shoe_size"]), 422, "unknown-attribute")
    assert body["detail"] == "attribute #2 asked for is not in the catalogue"  # by position
    assert "shoe_size" not in json.dumps(body)


def test_unknown_view(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    body = assert_problem(gw.query("card-risk", customer.ref, "credit_risk",
                                   [{"attribute": "credit_grade", "view": "sparkly"}]),
                          422, "unknown-view")
    assert "sparkly" not in json.dumps(body)


def test_bad_json_is_400(gw: Harness) -> None:
    response = gw.client.post("/v1/queries", content=b'{"customer": {"rrn": ',
                              headers={**gw.auth("card-risk"),
                                       "Content-Type": "application/json"})
    assert_problem(response, 400, "malformed-json")


def test_oversized_body_is_413(gw: Harness) -> None:
    payload = b'{"pad": "' + b"x" * (gw.settings.max_body_bytes + 10) + b'"}'
    response = gw.client.post("/v1/queries", content=payload,
                              headers={**gw.auth("card-risk"),
                                       "Content-Type": "application/json"})
    assert_problem(response, 413, "payload-too-large")


def test_non_json_body_is_415(gw: Harness) -> None:
    response = gw.client.post("/v1/queries", content=b"rrn=900101-1234567",
                              headers={**gw.auth("card-risk"),
                                       "Content-Type": "application/x-www-form-urlencoded"})
    body = assert_problem(response, 415, "unsupported-media-type")
    assert "1234567" not in response.text and body


@pytest.mark.parametrize(
    "body",
    [
        {"customer": {}, "purpose": "credit_risk", "attributes": ["credit_grade"]},  # no id
        {"customer": {"rrn": "x", "pseudonym": "p1_abcd"}, "purpose": "credit_risk",
         "attributes": ["credit_grade"]},  # both ids
        {"customer": {"pseudonym": "p1_abcd"}, "purpose": "credit_risk", "attributes": []},
        {"customer": {"pseudonym": "p1_abcd"}, "purpose": "credit_risk",
         "attributes": ["credit_grade"], "extra": 1},  # unknown field
        {"customer": {"pseudonym": "p1_abcd"}, "purpose": "Credit Risk!",
         "attributes": ["credit_grade"]},  # not an id
        [1, 2, 3],  # not an object
    ],
)
def test_schema_violations_are_422(gw: Harness, body: object) -> None:
    response = gw.client.post("/v1/queries", json=body, headers=gw.auth("card-risk"))
    problem = assert_problem(response, 422, "validation")
    assert isinstance(problem["errors"], list)


@pytest.mark.parametrize("attributes", [
    ["credit_grade", "credit_grade"],
    ["credit_grade", {"attribute": "credit_grade", "view": "exact"}],  # the two forms, one name
])
def test_an_attribute_asked_for_twice_has_its_own_type(gw: Harness, attributes: list) -> None:
    # no JSON Schema keyword says "unique by name" across both item forms: a stable code says it
    response = gw.client.post("/v1/queries", json={"customer": {"pseudonym": "p1_abcd"},
                                                   "purpose": "credit_risk",
                                                   "attributes": attributes},
                              headers=gw.auth("card-risk"))
    assert_problem(response, 422, "duplicate-attribute")


def test_forged_pseudonym_is_422(gw: Harness) -> None:
    response = gw.query("card-risk", {"pseudonym": "p1_" + "a" * 52}, "credit_risk",
                        ["credit_grade"])
    assert_problem(response, 422, "unknown-pseudonym")


def test_unknown_route_and_method_are_problems(gw: Harness) -> None:
    assert_problem(gw.client.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(gw.client.get("/v1/queries"), 405, "method-not-allowed")


def test_system_without_query_permission_is_403(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    response = gw.query("holding-audit", customer.ref, "credit_risk", ["credit_grade"])
    body = assert_problem(response, 403, "forbidden")
    assert "`query`" in body["detail"]


def test_a_key_the_client_made_up_is_not_repeated(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    body = {"customer": customer.ref, "purpose": "credit_risk", "attributes": ["credit_grade"],
            customer.rrn: "x"}  # an RRN sent as a key
    problem = assert_problem(gw.client.post("/v1/queries", json=body,
                                            headers=gw.auth("card-risk")), 422, "validation")
    text = json.dumps(problem, ensure_ascii=False)
    assert customer.rrn not in text and customer.rrn.replace("-", "") not in text
    assert problem["errors"][0]["location"] == "(unexpected field)"
    assert problem["instance"] == f"urn:request:{problem['request_id']}"  # not the raw path


def test_instance_names_the_request_not_the_path_sent(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    sent = "cns_9001011234568"  # whatever was put into the path is not repeated
    response = gw.client.post(f"/v1/consents/{sent}/withdraw", json={"customer": customer.ref},
                              headers=gw.auth("bank-callcenter"))
    problem = assert_problem(response, 404, "consent-not-found")
    assert sent not in json.dumps(problem)
    assert problem["instance"] == f"urn:request:{problem['request_id']}"


def test_a_method_not_allowed_says_which_are(gw: Harness) -> None:
    response = gw.client.request("TRACE", "/v1/queries")
    problem = assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"
    assert "TRACE" not in json.dumps(problem)


@pytest.mark.parametrize(("headers", "content", "status", "slug"), [
    ({"Content-Type": "text/plain"}, b"hello", 415, "unsupported-media-type"),
    ({"Content-Type": "application/json", "Content-Length": "abc"}, b"{}", 400, "bad-request"),
])
def test_refusals_before_any_parsing_are_recorded(gw: Harness, headers: dict[str, str],
                                                  content: bytes, status: int, slug: str) -> None:
    response = gw.client.post("/v1/queries?rrn=9001011234568", content=content,
                              headers={**gw.auth("card-risk"), **headers})
    problem = assert_problem(response, status, slug)
    record = json.loads(gw.services.access_log.record(problem["log_index"]))
    assert (record["kind"], record["problem"], record["status"]) == ("refused", slug, status)
    assert record["actor"]["system"] == "card-risk"  # its token verified: the caller's refusal
    assert "9001011234568" not in json.dumps(problem)  # the raw path is not repeated


# --- the bad-input corpus: marker strings wherever a caller can put one ---------------------------
MARK = "zqxmark7731"  # lowercase, fits every identifier pattern; found by the scan wherever it lands
CUSTOMER = {"pseudonym": "p1_" + MARK}
# (system, method, path, JSON body): each puts MARK where the caller chooses a string
MARKED: list[tuple[str, str, str, object]] = [
    ("card-risk", "POST", "/v1/queries", {"customer": CUSTOMER, "purpose": "credit_risk",
                                          "attributes": ["credit_grade"]}),  # a pseudonym
    ("card-risk", "POST", "/v1/queries", {"customer": {"rrn": MARK}, "purpose": "credit_risk",
                                          "attributes": ["credit_grade"]}),  # an RRN
    ("card-risk", "POST", "/v1/queries", {"customer": {"rrn": "900101-1234567"},
                                          "purpose": MARK, "attributes": ["credit_grade"]}),
    ("card-risk", "POST", "/v1/queries", {"customer": {"rrn": "900101-1234567"},
                                          "purpose": "credit_risk", "attributes": [MARK]}),
    ("card-risk", "POST", "/v1/queries", {"customer": {"rrn": "900101-1234567"},
                                          "purpose": "credit_risk",
                                          "attributes": [{"attribute": "credit_grade",
                                                          "view": MARK}]}),
    ("card-risk", "POST", "/v1/queries", {"customer": {"rrn": "900101-1234567", MARK: 1},
                                          "purpose": "credit_risk",
                                          "attributes": ["credit_grade"]}),  # a nested key
    ("card-risk", "POST", "/v1/queries", {MARK: {MARK: MARK}}),  # nothing but made-up keys
    ("card-risk", "POST", "/v1/queries", [MARK]),  # not an object
    ("bank-callcenter", "POST", "/v1/consents", {
        "customer": {"rrn": "900101-1234567"}, "recipient": MARK, "purpose": MARK,
        "categories": ["contact"], "channel": MARK, "evidence_ref": MARK}),
    ("bank-callcenter", "POST", f"/v1/consents/cns_{MARK}/withdraw", {"customer": CUSTOMER}),
    ("bank-callcenter", "POST", f"/v1/consents/{MARK}/confirm",
     {"customer": CUSTOMER, "refusal_right_notified": True}),
    ("bank-callcenter", "POST", "/v1/consents/search", {"customer": CUSTOMER, MARK: MARK}),
    ("bank-callcenter", "POST", "/v1/contact-stops", {"customer": CUSTOMER, "scope": MARK,
                                                      "channels": [MARK]}),
    ("bank-callcenter", "POST", f"/v1/contact-stops/{MARK}/lift", {"customer": CUSTOMER}),
    ("bank-callcenter", "POST", "/v1/customers/access-history",
     {"customer": CUSTOMER, "cursor": MARK}),
    ("card-marketing", "POST", "/v1/campaigns", {"purpose": MARK, "channel": MARK,
                                                 "reason": MARK, "ticket": MARK}),
    ("card-marketing", "GET", f"/v1/campaigns/cmp_{MARK}", None),
    ("card-marketing", "POST", f"/v1/campaigns/cmp_{MARK}/destruction", {"reference": MARK}),
    ("card-risk", "POST", "/v1/releases/destruction",
     {"log_indexes": [987654321], "campaign_ids": [f"cmp_{MARK}"], "reference": MARK}),
    # (not here: `/v1/pseudonyms/mappings` answers 200, each item with the pseudonym it maps)
    ("holding-audit", "GET", f"/v1/log/records?start=0&end={MARK}", None),
    ("holding-audit", "GET", "/v1/log/records?start=987654320&end=987654321", None),
    ("holding-audit", "GET", f"/v1/log/proofs/inclusion?index={MARK}&tree_size=1", None),
    ("holding-privacy", "POST", "/v1/admin/policy/approve", {"version": MARK}),
    ("holding-privacy", "POST", "/v1/admin/policy/approve", {"version": "sha256:" + "7" * 64}),
    ("card-risk", "GET", f"/v1/{MARK}?{MARK}={MARK}", None),  # no such route
    ("card-risk", "DELETE", f"/v1/queries?{MARK}=1", None),  # no such method
]


@pytest.mark.parametrize(("system", "method", "path", "body"), MARKED,
                         ids=[f"{m} {p.split('?')[0]}" for _, m, p, _ in MARKED])
def test_no_problem_repeats_a_marker_sent(gw: Harness, system: str, method: str, path: str,
                                          body: object) -> None:
    kwargs = {"json": body} if body is not None else {}
    response = gw.client.request(method, path, headers=gw.auth(system), **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["instance"] == f"urn:request:{problem['request_id']}"
    text = response.text.lower()
    for sent in (MARK, "987654321", "7777777777"):
        assert sent not in text, problem
