"""Pure ASGI middleware: request ids, body-size limit and JSON-only bodies, before any parsing."""

from __future__ import annotations

import itertools
import json
import os
import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PROBLEM_BASE, PayloadTooLarge

_PROBLEM = b"application/problem+json"


async def _send_problem(send: Send, status: int, slug: str, title: str, detail: str,
                        request_id: str, path: str) -> None:
    body = json.dumps(
        {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
         "instance": path, "request_id": request_id},
        ensure_ascii=False,
    ).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", _PROBLEM), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


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

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._ids.next()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            declared = headers.get(b"content-length")
            if declared is not None:
                try:
                    length = int(declared)
                except ValueError:
                    await _send_problem(send, 400, "bad-request", "bad request",
                                        "content-length is not a number", request_id, path)
                    return
                if length > self.max_body_bytes:
                    await _send_problem(send, 413, "payload-too-large", "request body too large",
                                        f"request body exceeds {self.max_body_bytes} bytes",
                                        request_id, path)
                    return
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if ctype and ctype != b"application/json" and not ctype.endswith(b"+json"):
                await _send_problem(send, 415, "unsupported-media-type",
                                    "request body must be application/json",
                                    "send the body as `application/json`", request_id, path)
                return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Raised inside the app, so the one problem handler answers 413.
                    raise PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
