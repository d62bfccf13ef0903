"""The route index (`gateway.api.routing`): a remembered path answers exactly as a full scan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from gateway.api import routing
from gateway.api.routing import RouteIndex
from tests.api.conftest import Harness

# (method, path, with a token?): every kind of answer the router gives
REQUESTS = [
    ("GET", "/healthz", False),
    ("GET", "/openapi.json", False),
    ("HEAD", "/openapi.json", False),
    ("POST", "/openapi.json", False),  # the route exists for GET only: 405
    ("GET", "/v1/catalog", True),
    ("GET", "/v1/catalog/", True),  # a redirect to the path without the slash, or a 404
    ("GET", "/v1/log/keys", True),
    ("GET", "/v1/campaigns/cmp_00000000000000000000000000", True),  # a path parameter
    ("GET", "/v1/campaigns/cmp_00000000000000000000000001", True),
    ("POST", "/v1/consents/search", True),  # body missing: 422 from the route
    ("GET", "/v1/consents/search", True),  # 405
    ("GET", "/console/review", False),
    ("GET", "/no/such/path", False),  # 404
    ("DELETE", "/healthz", False),  # 405
]


def _answer(gw: Harness, method: str, path: str, token: bool) -> tuple[Any, ...]:
    headers = {"authorization": f"Bearer {gw.token('holding-audit')}"} if token else {}
    response = gw.client.request(method, path, headers=headers, follow_redirects=False)
    body: Any = response.content
    if response.headers.get("content-type", "").startswith("application/"):
        try:
            body = json.loads(body)
        except ValueError:
            pass
        if isinstance(body, dict):  # the request's own id differs from answer to answer
            body.pop("request_id", None)
            body.pop("instance", None)
            body.pop("log_index", None)  # each refusal is a record of its own
    return (response.status_code, response.headers.get("content-type"),
            response.headers.get("location"), response.headers.get("allow"), body)


@pytest.fixture
def index(gw: Harness) -> Iterator[RouteIndex]:
    app: FastAPI = gw.client.app  # type: ignore[assignment]
    installed = app.router.middleware_stack
    assert isinstance(installed, RouteIndex), "create_app installs the route index"
    yield installed
    app.router.middleware_stack = installed


def test_a_remembered_path_answers_as_a_full_scan(gw: Harness, index: RouteIndex) -> None:
    app: FastAPI = gw.client.app  # type: ignore[assignment]
    learned = [_answer(gw, *r) for r in REQUESTS]  # the index scans and remembers
    remembered = [_answer(gw, *r) for r in REQUESTS]  # the index answers from memory
    app.router.middleware_stack = index._scan  # the router alone
    scanned = [_answer(gw, *r) for r in REQUESTS]
    for request, first, second, alone in zip(REQUESTS, learned, remembered, scanned):
        assert first == alone, request
        assert second == alone, request
    statuses = {s[0] for s in scanned}
    assert {200, 404, 405}.issubset(statuses), statuses  # the list covers those answers


def test_only_a_clean_first_match_is_remembered(gw: Harness, index: RouteIndex) -> None:
    _answer(gw, "GET", "/healthz", False)
    _answer(gw, "DELETE", "/healthz", False)  # 405: a partial match, worked out every time
    _answer(gw, "GET", "/no/such/path", False)  # 404: nothing to remember
    remembered = {(m, p): single for (m, _root, p), single in index._by_path.items()}
    assert remembered[("GET", "/healthz")] is not None
    # known to need the full scan: not scanned twice over
    assert remembered[("DELETE", "/healthz")] is None
    assert remembered[("GET", "/no/such/path")] is None


def test_routes_added_later_are_found(gw: Harness, index: RouteIndex) -> None:
    app: FastAPI = gw.client.app  # type: ignore[assignment]
    assert gw.client.get("/healthz").status_code == 200  # remembered
    assert gw.client.get("/later").status_code == 404
    extra = APIRouter()

    @extra.get("/later")
    async def later() -> dict[str, str]:
        return {"later": "yes"}

    app.include_router(extra)
    try:
        assert gw.client.get("/later").json() == {"later": "yes"}
        assert gw.client.get("/healthz").status_code == 200  # learned again, same answer
    finally:
        app.router.routes.pop()
    assert gw.client.get("/later").status_code == 404


def test_a_full_index_starts_over(gw: Harness, index: RouteIndex,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    index._start_over(gw.client.app.router.routes)  # type: ignore[attr-defined]
    monkeypatch.setattr(routing, "MAX_PATHS", 2)
    for n in range(5):  # paths carrying identifiers: each one a path of its own
        path = f"/v1/campaigns/cmp_{n:026d}"
        answers = [gw.client.get(path, headers={
            "authorization": f"Bearer {gw.token('holding-audit')}"}) for _ in range(2)]
        assert [a.status_code for a in answers] == [403, 403], answers[0].text
        assert len(index._by_path) <= 2
    assert gw.client.get("/healthz").status_code == 200


def test_not_installed_over_a_router_with_middleware_of_its_own() -> None:
    from starlette.middleware.gzip import GZipMiddleware

    router = APIRouter(routes=[Route("/", lambda request: None)])
    router.middleware_stack = GZipMiddleware(router.app)
    with pytest.raises(RuntimeError, match="middleware of its own"):
        RouteIndex.install(router)
