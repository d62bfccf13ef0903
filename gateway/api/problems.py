"""Every error becomes an RFC 9457 problem document, in this one place.

RFC 9457 §3: `type`, `title`, `status`, `detail`, `instance` plus extension members. We add
`request_id` and, when the refusal itself was recorded, `log_index`. Nothing from the request
body is echoed back: a malformed RRN must not come back in the error that rejects it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.accesslog.usage import RateLimited
from gateway.errors import (
    PROBLEM_BASE,
    DuplicateAttribute,
    GatewayError,
    MalformedJson,
    StoreUnavailable,
    ValidationFailed,
)

log = logging.getLogger("gateway.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_TYPES = {
    404: ("not-found", "not found"),
    405: ("method-not-allowed", "method not allowed"),
    406: ("not-acceptable", "not acceptable"),
}


def problem_response(
    request: Request,
    *,
    status: int,
    type_uri: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status, "detail": detail}
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        # RFC 9457 §3.1.5: this occurrence, by its request id; never the raw path (it may hold
        # what was sent)
        body["instance"] = f"urn:request:{request_id}"
        body["request_id"] = request_id
    log_index = extra.pop("log_index", None) if extra else None
    if log_index is None:
        log_index = getattr(request.state, "log_index", None)
    if log_index is not None:
        body["log_index"] = log_index
    if extra:
        body.update(extra)
    out_headers = dict(headers or {})
    if log_index is not None:
        out_headers["X-Log-Index"] = str(log_index)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=out_headers)


def gateway_error_response(request: Request, exc: GatewayError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="gateway"'} if exc.status == 401 else None
    extra: dict[str, Any] = {"log_index": exc.log_index} if exc.log_index is not None else {}
    if isinstance(exc, RateLimited):  # RFC 9110 §10.2.3 / RFC 6585 §4: when to try again
        headers = {"Retry-After": str(exc.retry_after)}
        extra.update(measure=exc.measure, scope=exc.scope, retry_after=exc.retry_after)
    return problem_response(
        request,
        status=exc.status,
        type_uri=exc.type_uri,
        title=exc.title,
        detail=exc.detail,
        headers=headers,
        extra=extra or None,
    )


def _schema_names() -> frozenset[str]:
    """Every field and model name the API's schemas declare: the only names a location may
    repeat (a key the client made up, such as an RRN sent as a key, is not one of them)."""
    names: set[str] = set()
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for model in pending.pop().__subclasses__():
            pending.append(model)
            if model.__module__.startswith("gateway."):
                names.add(model.__name__)
                for name, field in model.model_fields.items():
                    names.update(n for n in (name, field.alias) if n)
    return frozenset(names)


_SCHEMA_NAMES: frozenset[str] | None = None


def _location_part(part: object) -> str:
    global _SCHEMA_NAMES
    if isinstance(part, int):
        return str(part)
    if _SCHEMA_NAMES is None:
        _SCHEMA_NAMES = _schema_names()
    return str(part) if part in _SCHEMA_NAMES or part in _TYPE_NAMES else "(unexpected field)"


_TYPE_NAMES = frozenset({"str", "int", "bool", "list", "dict", "function-after", "union"})


def _safe_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors without `input`/`ctx`: they may hold the very value being rejected.

    Locations name only what the schemas declare; a key the client chose is replaced, so an
    RRN sent as a key does not come back."""
    out = []
    for err in exc.errors():
        loc = [_location_part(part) for part in err.get("loc", ()) if part != "body"]
        out.append({"location": ".".join(loc), "message": str(err.get("msg", "")).lower()})
    return out


def validation_error(exc: RequestValidationError) -> tuple[GatewayError, list[dict[str, Any]]]:
    """The problem a schema failure is answered with, and the errors it lists (never input)."""
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return MalformedJson("request body is not valid json"), []
    if any(err.get("type") == "duplicate_attribute" for err in errors):
        return DuplicateAttribute("each attribute may be asked for once"), []
    first = _safe_validation_errors(exc)
    where = first[0]["location"] if first else ""
    detail = f"request body does not match the schema: `{where}`" if where else (
        "request does not match the schema"
    )
    return ValidationFailed(detail), first


def validation_error_response(request: Request, exc: RequestValidationError, *,
                              log_index: int | None = None) -> JSONResponse:
    error, errors = validation_error(exc)
    error.log_index = log_index
    if not errors:
        return gateway_error_response(request, error)
    extra: dict[str, Any] = {"errors": errors}
    if error.log_index is not None:
        extra["log_index"] = error.log_index
    return problem_response(request, status=error.status, type_uri=error.type_uri,
                            title=error.title, detail=error.detail, extra=extra)


async def _refuse(request: Request, error: GatewayError) -> GatewayError:
    """Record the refusal (`deps.refuse_request`: the caller's, or counted among the
    unauthenticated ones); return the problem to answer with."""
    from gateway.api.deps import refuse_request  # deps import the pipeline

    if getattr(request.app.state, "services", None) is None:
        return error  # no lifespan ran (nothing to record with): answer as is
    return await refuse_request(request, error)


def _http_refusal(status: int, slug: str, title: str, detail: str) -> GatewayError:
    """Starlette's own 4xx (an unknown route, a method not allowed) as a refusal to record."""
    error = GatewayError(detail)
    error.status, error.type_slug, error.title = status, slug, title
    return error


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        from gateway.api.deps import authenticated

        if 400 <= exc.status < 500 and exc.log_index is None and authenticated(request):
            # a refusal of a proven caller that its route did not record: recorded here, so
            # every authenticated refusal is in the log (an unauthenticated one was counted)
            exc = await _refuse(request, exc)
        return gateway_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        error, _errors = validation_error(exc)
        answer = await _refuse(request, error)
        if answer is not error:  # the token was a replay, or the log failed
            return gateway_error_response(request, answer)
        return validation_error_response(request, exc, log_index=error.log_index)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _HTTP_TYPES.get(exc.status_code, ("http-error", "http error"))
        detail = str(exc.detail).lower() if exc.detail else title
        extra: dict[str, Any] | None = None
        if 400 <= exc.status_code < 500:  # a refusal like any other: recorded or counted
            error = _http_refusal(exc.status_code, slug, title, detail)
            answer = await _refuse(request, error)
            if answer is not error:  # the token was a replay, or the log failed
                return gateway_error_response(request, answer)
            extra = {"log_index": error.log_index} if error.log_index is not None else None
        return problem_response(
            request,
            status=exc.status_code,
            type_uri=PROBLEM_BASE + slug,
            title=title,
            detail=detail,
            extra=extra,
            headers=dict(exc.headers or {}),  # e.g. `Allow` on a 405 (RFC 9110 §15.5.6)
        )

    @app.exception_handler(DBAPIError)
    async def _storage(request: Request, exc: DBAPIError) -> JSONResponse:
        # A database that cannot be reached, read or written (a read-only remount, a full
        # disk, a server gone) wherever a store did not wrap it itself: 503, nothing released
        # (the route ended before any answer). Other driver errors are bugs: a 500.
        if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
            log.error("data store failed: %s", type(exc).__name__)
            return gateway_error_response(request, StoreUnavailable(
                f"data store unavailable: `{type(exc).__name__}`"))
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Fail closed: an unexpected error releases nothing and says nothing about internals.
        log.error("unexpected error: %s", type(exc).__name__)
        return problem_response(
            request,
            status=500,
            type_uri=PROBLEM_BASE + "internal",
            title="internal error",
            detail="the gateway met an unexpected error; nothing was released",
        )
