"""The console: pages the gateway serves to the people who answer for it (issue #12).

Korean first (`?lang=en` or the `lang` cookie for English), times in KST, every asset served
by the gateway itself. Employees sign in with a role of the policy (`console:` in
`policies/affiliates.yaml`); each page declares which of the policy's page ids it is, and only
roles listing that id may open it.

Mounted as routes only (`install_console`): no middleware, so `/v1/...` pays nothing for it.

Adding a page (see also `gateway/console/README.md`)::

    # gateway/console/pages/review.py
    router = APIRouter(prefix="/console/review", tags=["console"], include_in_schema=False)
    add_nav("review", "/console/review", "nav.review")        # page id, link, message key
    add_messages({"nav.review": ("월간 점검", "Monthly review")})

    @router.get("/{month}", response_class=HTMLResponse)
    async def review(month: str, page: Annotated[Page, Depends(Opens("review"))]) -> Response:
        ...                                    # shows a customer? `await page.record(...)` first
        return page.render("review.html", month=month)   # extends "base.html"

and add the router to `PAGES` below.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError

from gateway.console.pages import assets, auth, docs, home, log, policy, review, timeline
from gateway.console.web import (
    STATIC_DIR,
    CsrfRefused,
    NotRecorded,
    Page,
    PageForbidden,
    SignInRequired,
    console_of,
    language,
    signin_redirect,
)
from gateway.errors import GatewayError

PAGES = [auth.router, home.router, log.router, policy.router, timeline.router, review.router]


async def _signin_required(request: Request, exc: Exception) -> Response:
    return signin_redirect(request)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    page = exc.page
    role = page.role.name_ko if page.role and page.lang == "ko" else (
        page.role.name_en if page.role else "")
    return page.render("error.html", status=403, title=page.t("error.forbidden.title"),
                       message=page.t("error.forbidden.body", role=role))


async def _csrf(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CsrfRefused)
    page = exc.page
    return page.render("error.html", status=403, title=page.t("error.csrf.title"),
                       message=page.t("error.csrf.body"))


async def _not_recorded(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotRecorded)
    page = exc.page
    return page.render("error.html", status=503, title=page.t("error.log.title"),
                       message=page.t("error.log.body"))


PAGES_PREFIX = "/console/"

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def _failure_page(request: Request, status: int, key: str) -> Response:
    """A console failure as a page (Korean first), for someone signed out: the store that
    failed may be the sessions' own, so nothing is read to build it."""
    lang, _chosen = language(request)
    page = Page(request=request, console=console_of(request),
                services=request.app.state.services, lang=lang, now=datetime.now(timezone.utc))
    request_id = str(getattr(request.state, "request_id", ""))
    return page.render("error.html", status=status, title=page.t(f"{key}.title"),
                       message=page.t(f"{key}.body", request_id=request_id))


# what a failure the API answers with a problem document says on a console page
_FAILURES = {503: "error.store", 500: "error.internal"}


def _pages_first(api: Handler) -> Handler:
    """`api`'s handler, except that a failure on a console page (a store unavailable, an
    unexpected error) is answered with a page of the console's own: its users read pages,
    not problem documents. The API's handler still runs first (its logging, its records)."""

    async def handle(request: Request, exc: Exception) -> Response:
        answer = api(request, exc)
        response = await answer if inspect.isawaitable(answer) else answer
        key = _FAILURES.get(response.status_code)
        if (key is not None and request.url.path.startswith(PAGES_PREFIX)
                and not request.url.path.startswith("/console/static/")):
            return _failure_page(request, response.status_code, key)
        return response

    return handle


def install_console(app: FastAPI) -> None:
    """Add the console's pages, its static assets and the offline `/docs` and `/redoc`."""
    for router in PAGES:
        app.include_router(router)
    app.include_router(docs.router)
    app.include_router(assets.router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.mount(docs.ASSETS, StaticFiles(directory=docs.assets_dir()), name="docs-assets")
    app.add_exception_handler(SignInRequired, _signin_required)
    app.add_exception_handler(PageForbidden, _forbidden)
    app.add_exception_handler(CsrfRefused, _csrf)
    app.add_exception_handler(NotRecorded, _not_recorded)
    # a store that fails (503) or an unexpected error (500) on a page: a page, not JSON
    for failure in (GatewayError, DBAPIError, Exception):
        app.add_exception_handler(failure, _pages_first(app.exception_handlers[failure]))


__all__ = ["PAGES", "install_console"]
