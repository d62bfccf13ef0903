"""Route look-up by path: the router's own matching, done once per method and path.

FastAPI matches a request by asking each of the app's routes in turn, and each included
router asks each of its routes: measured with `bench/bench_gateway.py`, reaching the last of
the gateway's 23 top-level routes cost about 100 µs per request (5,266 req/s for the baseline
route matched first, against about 3,600 matched last; the bare app reads the same row at
7,236). `RouteIndex` remembers, per (method, root path, path), which top-level route answers:
the first request scans as the router does, later ones ask only that route.

What is remembered is exactly what the scan would find again: route matching depends on the
method and the path only (no route here matches on the host), a path is remembered only when
every route before the answering one said "no match" (a 405 or a 404 is always worked out in
full, and remembered as such, so it is not scanned twice) and the answer is the router's own
code (`APIRouter.app`) run over that one route. The index starts over when routes are added,
and when it holds `MAX_PATHS` paths (paths carrying identifiers keep coming; the paths in use
are learned again at the cost of one scan each).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi.routing import APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_PATHS = 4096

_Key = tuple[str, str, str]


class RouteIndex:
    """The entry of `router` (its `middleware_stack`), remembering which route answers."""

    def __init__(self, router: APIRouter) -> None:
        self._router = router
        self._scan: ASGIApp = router.middleware_stack  # the router's own app: the full scan
        self._routes: list[BaseRoute] = []
        self._by_path: dict[_Key, APIRouter | None] = {}  # None: scan in full
        self._by_route: dict[int, APIRouter] = {}

    @classmethod
    def install(cls, router: APIRouter) -> RouteIndex:
        # only over the router's own matching, not over middleware of its own
        if router.middleware_stack != router.app:
            raise RuntimeError("the router has middleware of its own: route index not installed")
        index = cls(router)
        router.middleware_stack = index
        return index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._scan(scope, receive, send)
            return
        routes = self._router.routes
        if len(routes) != len(self._routes) or (routes and routes[-1] is not self._routes[-1]):
            self._start_over(routes)  # routes were added (tests do): learn again
        key = (scope["method"], scope.get("root_path", ""), scope["path"])
        single = self._by_path.get(key, _UNKNOWN)
        if single is _UNKNOWN:
            single = self._learn(key, scope)
        if single is None:  # no route, or a partial match first (404, 405): the full scan
            await self._scan(scope, receive, send)
            return
        scope.setdefault("router", self._router)  # `url_for` looks over every route
        await single.app(scope, receive, send)

    def _start_over(self, routes: list[BaseRoute]) -> None:
        self._routes = list(routes)
        self._by_path.clear()
        self._by_route.clear()

    def _learn(self, key: _Key, scope: Scope) -> APIRouter | None:
        """The router over the one route answering `scope`, when a scan would pick it with
        every route before it not matching at all (else None: scan in full); remembered."""
        if len(self._by_path) >= MAX_PATHS:
            self._by_path.clear()
        self._by_path[key] = None
        for position, route in enumerate(self._routes):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                break
            if match is not Match.NONE:
                return None
        else:
            return None
        single = self._by_route.get(position)
        if single is None:
            # the router's own code and settings, over this one route
            single = copy.copy(self._router)
            single.routes = [route]
            self._by_route[position] = single
        self._by_path[key] = single
        return single


_UNKNOWN: Any = object()
