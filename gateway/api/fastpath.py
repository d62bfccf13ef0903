"""`POST /v1/queries` answered straight from ASGI: the route's own functions, not the router.

The query route is the one every affiliate calls inline. Measured with
`bench/bench_gateway.py --profile`, FastAPI's routing, dependency solving and body-to-argument
steps cost it more CPU than authentication or the log's commit. This middleware answers that
one route with exactly what the FastAPI route runs: the body parsed as `request.json()` does
and validated against `QueryIn`, then `deps.verified_call` (authenticate), then
`routes.queries.query` (the request path), with errors through the app's own problem handlers.

Anything unusual is handed to FastAPI unchanged, with the body replayed: a body that is not
JSON or fails the schema, any other path or method. So every refusal keeps one
implementation, and the FastAPI route stays registered: the OpenAPI document describes it and
it answers what this one hands over.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.deps import request_time, verified_call
from gateway.api.middleware import replayed
from gateway.api.routes import queries
from gateway.api.schemas import QueryIn

PATH = "/v1/queries"

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


class QueryFastPath:
    """Pure ASGI middleware serving `POST /v1/queries` (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or _route_path(scope) != PATH):
            await self.app(scope, receive, send)
            return
        app: FastAPI = scope["app"]
        request = Request(scope, receive)
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left: there is no one to answer
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except Exception as exc:  # noqa: BLE001 - e.g. over the body limit (413)
            await (await _answer(app, request, exc))(scope, receive, send)
            return
        body = b"".join(chunks)
        parsed = _parse(body)
        if parsed is None:  # not JSON, or not the schema: FastAPI refuses it, recorded
            await self.app(scope, replayed(body, receive), send)
            return
        try:
            # the log's group commit may linger for this request's record (`underway`)
            with app.state.services.access_log.underway():
                call = await verified_call(request, await _now(app))
                response = await queries.query(parsed, call)
        except Exception as exc:  # noqa: BLE001 - answered as the app answers it
            response = await _answer(app, request, exc)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _parse(body: bytes) -> QueryIn | None:
    """The body as FastAPI would bind it (then the model in Python mode), or None for FastAPI
    to answer (it refuses it with its own errors, or binds what only it reads).

    Read by orjson: where it reads a body at all it reads what FastAPI's `json.loads` reads
    (a number beyond 64 bits aside, which no field of the model takes); what it does not
    read (UTF-16, NaN, a lone surrogate) is FastAPI's to read or refuse."""
    if not body:
        return None
    try:
        return QueryIn.model_validate(orjson.loads(body))
    except (ValueError, ValidationError):  # orjson.JSONDecodeError is a ValueError
        return None


async def _now(app: FastAPI) -> datetime:
    """The request's clock, honouring a test's override of the `request_time` dependency."""
    clock = app.dependency_overrides.get(request_time, request_time)
    value = clock()
    return await value if inspect.isawaitable(value) else value  # type: ignore[no-any-return]


async def _answer(app: FastAPI, request: Request, exc: Exception) -> Response:
    """The app's exception handler for `exc` (nearest class in its MRO), as Starlette picks
    it; an error no handler covers is the app's catch-all 500 (fail closed)."""
    handlers: dict[Any, Handler] = app.exception_handlers
    handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers),
                   handlers[Exception])
    answer = handler(request, exc)
    return await answer if inspect.isawaitable(answer) else answer
