"""Pure ASGI middleware: request ids, body-size limit and JSON-only bodies, before any parsing.

A request refused here is a refusal like any other: recorded as its caller's when its token
verifies, else counted among the unauthenticated refusals of its source and minute
(`gateway.unauthenticated`), before the problem document is sent.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BadRequest, GatewayError, PayloadTooLarge, UnsupportedMediaType

_PROBLEM = b"application/problem+json"
FORM_PREFIX = "/console/"  # browser forms, not JSON (gateway.console)
FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


async def _refuse(scope: Scope, send: Send, error: GatewayError, request_id: str) -> None:
    """Record the refusal, then answer with its problem document (503 if it cannot be
    recorded). No step has authenticated the request yet: it is the caller's refusal when its
    token verifies, else counted among the unauthenticated refusals of its source and minute
    (`deps.refuse_request`)."""
    from gateway.api.deps import refuse_request  # the request path imports this module's app

    services = getattr(getattr(scope.get("app"), "state", None), "services", None)
    if services is not None:
        error = await refuse_request(Request(scope), error)
    body: dict[str, Any] = {"type": error.type_uri, "title": error.title,
                            "status": error.status, "detail": error.detail,
                            "instance": f"urn:request:{request_id}", "request_id": request_id}
    headers = [(b"content-type", _PROBLEM)]
    if error.status == 401:  # a replayed token (RFC 6750 §3)
        headers.append((b"www-authenticate", b'Bearer realm="gateway"'))
    if error.log_index is not None:
        body["log_index"] = error.log_index
        headers.append((b"x-log-index", str(error.log_index).encode()))
    encoded = json.dumps(body, ensure_ascii=False).encode()
    headers.append((b"content-length", str(len(encoded)).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": encoded})


async def _read_limited(receive: Receive, limit: int) -> bytes | PayloadTooLarge | None:
    """The whole body, or `PayloadTooLarge` once more than `limit` bytes came (the rest is
    not read), or None if the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return PayloadTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replayed(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` once, then continues with `receive` (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class RequestIds:
    """32 hex digits per request: a random 64-bit prefix per process, then a counter.

    Unique across the processes sharing one log and across restarts, like a UUID4, without a
    call for 16 random bytes per request (the prefix is drawn again in a forked child).
    """

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._counter = itertools.count()

    def next(self) -> str:
        if self._pid != os.getpid():
            self._pid, self._prefix = os.getpid(), secrets.token_hex(8)
            self._counter = itertools.count()
        return f"{self._prefix}{next(self._counter):016x}"


class BodyGuard:
    """Gives each request an id, refuses oversized bodies (413) and non-JSON bodies (415)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int,
                 max_form_bytes: int = 64 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_form_bytes = max_form_bytes
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._ids.next()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        headers = dict(scope.get("headers") or [])
        limit = self.max_body_bytes
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            # the console's pages post browser forms (its own limit: an uploaded archive)
            form = scope["path"].startswith(FORM_PREFIX)
            if form:
                limit = self.max_form_bytes
            declared = headers.get(b"content-length")
            if declared is not None:
                try:
                    length = int(declared)
                except ValueError:
                    await _refuse(scope, send, BadRequest("content-length is not a number"),
                                  request_id)
                    return
                if length > limit:
                    await _refuse(scope, send, PayloadTooLarge(
                        f"request body exceeds {limit} bytes"), request_id)
                    return
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if form:
                if ctype not in FORM_TYPES:
                    await _refuse(scope, send, UnsupportedMediaType(
                        "send the console's forms as a browser does"), request_id)
                    return
            elif ctype and ctype != b"application/json" and not ctype.endswith(b"+json"):
                await _refuse(scope, send, UnsupportedMediaType(
                    "send the body as `application/json`"), request_id)
                return
            if declared is None:
                # no length declared (chunked): read it here, up to the limit, so that an
                # oversized body is refused (413) and recorded here like a declared one
                # rather than failing inside the app's body parsing
                body = await _read_limited(receive, limit)
                if body is None:
                    return  # the client left: there is no one to answer
                if isinstance(body, PayloadTooLarge):
                    await _refuse(scope, send, body, request_id)
                    return
                receive = replayed(body, receive)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app, so the one problem handler answers 413.
                    raise PayloadTooLarge(f"request body exceeds {limit} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
