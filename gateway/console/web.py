"""The console's plumbing: templates, language, sessions, CSRF, which role opens which page.

A page handler takes one dependency, `Depends(Opens("timeline"))`, and gets a `Page`: the
signed-in account, its role, the language, and `render`/`record` helpers. Anyone not signed in
is sent to the sign-in page; a role the policy does not let open the page gets 403 (and the
attempt is recorded). Every POST handler reads its form through `page.form()`, which refuses
a missing or wrong CSRF token before anything is done.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
from anyio import to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from gateway import record
from gateway.console import i18n
from gateway.console.sessions import Session, Sessions
from gateway.console.throttle import SigninThrottle
from gateway.console.users import Account, ConsoleUsers
from gateway.domain import CustomerKey
from gateway.errors import GatewayError
from gateway.policy.model import ConsoleRole
from gateway.services import Services

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"



SESSION_COOKIE = "gw_console"
CSRF_COOKIE = "gw_console_csrf"  # the double-submit token of forms shown before sign-in
LANG_COOKIE = "lang"
FLASH_COOKIE = "gw_flash"  # a message key (never text) to show once on the next page
CSRF_FIELD = "csrf_token"

# Pages of the console: same-origin assets only, no inline script, no framing
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; font-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    page: str  # the policy's page id the role must be allowed to open
    href: str
    label: str  # a message key


NAV: list[NavItem] = []


def add_nav(page: str, href: str, label: str) -> None:
    """Show a page in the navigation bar, to roles that may open it (call at import time)."""
    if not any(item.href == href for item in NAV):
        NAV.append(NavItem(page, href, label))


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every template, whatever its name: nothing shown back is ever markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["kst"] = i18n.kst


class Console:
    """The console's stores, built once per app from the gateway's services."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        engine = services.gateway_engine
        self.users = ConsoleUsers(engine)
        self.sessions = Sessions(engine, idle=timedelta(minutes=settings.console_idle_minutes),
                                 lifetime=timedelta(hours=settings.console_session_hours))
        self.throttle = SigninThrottle(
            engine, per_user=settings.console_signin_per_user,
            per_source=settings.console_signin_per_source,
            window=timedelta(seconds=settings.console_signin_window_s))
        self.secure_cookies = settings.console_secure_cookies


def console_of(request: Request) -> Console:
    console: Console | None = getattr(request.app.state, "console", None)
    if console is None:
        console = Console(request.app.state.services)
        request.app.state.console = console
    return console


# --- refusals, answered as pages by the handlers `install_console` registers -----------------
class SignInRequired(Exception):
    pass


class PageForbidden(Exception):
    def __init__(self, page: Page) -> None:
        self.page = page


class CsrfRefused(Exception):
    def __init__(self, page: Page) -> None:
        self.page = page


class NotRecorded(Exception):
    """The access record of a page could not be made durable: nothing is shown (fail closed)."""

    def __init__(self, page: Page) -> None:
        self.page = page


@dataclass
class Page:
    """One console request as a page handler sees it."""

    request: Request
    console: Console
    services: Services
    lang: str
    now: datetime
    account: Account | None = None
    role: ConsoleRole | None = None
    session: Session | None = None
    session_token: str | None = None
    _csrf_cookie: str | None = field(default=None, repr=False)
    _set_lang: bool = field(default=False, repr=False)

    def t(self, key: str, **params: object) -> str:
        return i18n.translate(self.lang, key, **params)

    def label(self, key: str, fallback: str) -> str:
        """The message `key` if there is one, else `fallback` (e.g. a field's own name)."""
        return self.t(key) if i18n.known(key) else fallback

    @property
    def source(self) -> str | None:
        return self.request.client.host if self.request.client else None

    @property
    def csrf_token(self) -> str:
        if self.session is not None:
            return self.session.csrf
        if self._csrf_cookie is None:
            self._csrf_cookie = self.request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        return self._csrf_cookie

    def may_open(self, page: str) -> bool:
        return self.role is not None and self.role.may_open(page)

    async def form(self) -> FormData:
        """The posted form, once its CSRF token matches this session's (or, before sign-in,
        the double-submit cookie's); `CsrfRefused` otherwise."""
        form = await self.request.form()
        sent = form.get(CSRF_FIELD)
        if self.session is not None:
            expected: str | None = self.session.csrf
        else:
            expected = self.request.cookies.get(CSRF_COOKIE)
        if not (isinstance(sent, str) and expected
                and hmac.compare_digest(sent.encode(), expected.encode())):
            raise CsrfRefused(self)
        return form

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        flash_key = self.request.cookies.get(FLASH_COOKIE)
        flashes = [self.t(flash_key)] if flash_key and i18n.known(flash_key) else []
        nav = [item for item in NAV if self.may_open(item.page)]
        body = _env.get_template(template).render(
            page=self, t=self.t, label=self.label, lang=self.lang, account=self.account, role=self.role,
            csrf_token=self.csrf_token, csrf_field=CSRF_FIELD, nav=nav, flashes=flashes,
            path=self.request.url.path, **context)
        response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
        if flashes or flash_key:
            response.delete_cookie(FLASH_COOKIE, path="/console")
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        """Cookies this request set: the language chosen, the pre-sign-in CSRF token."""
        if self._set_lang:
            response.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, path="/",
                                samesite="strict", secure=self.console.secure_cookies,
                                httponly=True)
        if self.session is None and self._csrf_cookie is not None \
                and self.request.cookies.get(CSRF_COOKIE) != self._csrf_cookie:
            response.set_cookie(CSRF_COOKIE, self._csrf_cookie, path="/console",
                                samesite="strict", secure=self.console.secure_cookies,
                                httponly=True)

    def redirect(self, url: str, *, flash: str | None = None) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        if flash is not None:
            response.set_cookie(FLASH_COOKIE, flash, path="/console", samesite="strict",
                                secure=self.console.secure_cookies, httponly=True)
        self.finish(response)
        return response

    async def record(self, kind: str, *, status: int = 200, customer: CustomerKey | None = None,
                     **fields: Any) -> int:
        """Append an access record naming the signed-in employee; durable when it returns.

        INVARIANT: a page that shows anything about a customer calls this before rendering;
        `NotRecorded` (nothing shown) if the log cannot take it.
        """
        svc = self.services
        caller = self.account.caller(self.source) if self.account is not None else None
        try:
            return await record.append(svc.access_log, record.event_record(
                kind, request_id=str(self.request.state.request_id), now=self.now,
                caller=caller, source=self.source, policy_version=svc.policy.current.version,
                status=status, customer=customer, **fields))
        except GatewayError as exc:
            raise NotRecorded(self) from exc


def language(request: Request) -> tuple[str, bool]:
    asked = request.query_params.get("lang")
    if asked in i18n.LANGS:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    return (cookie if cookie in i18n.LANGS else "ko"), False


async def visitor(request: Request) -> Page:
    """Anyone, signed in or not (the sign-in page)."""
    lang, chosen = language(request)
    console = console_of(request)
    services: Services = request.app.state.services
    page = Page(request=request, console=console, services=services, lang=lang,
                now=datetime.now(timezone.utc), _set_lang=chosen)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session = await to_thread.run_sync(console.sessions.find, token, page.now)
        if session is not None:
            account = await to_thread.run_sync(console.users.get, session.username)
            role = services.policy.current.console_roles.get(account.role) if account else None
            if account is not None and role is not None:  # else: as if signed out
                page.account, page.role = account, role
                page.session, page.session_token = session, token
    return page


class Opens:
    """A page's permission (`Depends(Opens("timeline"))`): signed in, and the role may open
    `page` under the policy in force; a refused role is recorded (`console.denied`)."""

    def __init__(self, page: str) -> None:
        self.page = page

    async def __call__(self, request: Request) -> Page:
        page = await visitor(request)
        if page.account is None or page.role is None:
            raise SignInRequired()
        if not page.role.may_open(self.page):
            await page.record("console.denied", status=403, page=self.page)
            raise PageForbidden(page)
        return page


def signin_redirect(request: Request) -> RedirectResponse:
    response = RedirectResponse("/console/signin", status_code=303)
    response.set_cookie(FLASH_COOKIE, "flash.session_ended", path="/console",
                        samesite="strict", secure=console_of(request).secure_cookies,
                        httponly=True)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
