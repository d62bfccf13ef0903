"""Sign-in and sign-out: password, second factor where the role needs it, throttled, recorded."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from gateway.console.users import USERNAME
from gateway.console.web import SESSION_COOKIE, Page, visitor

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

VisitorDep = Annotated[Page, Depends(visitor)]


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(page: VisitorDep) -> Response:
    if page.account is not None:
        return page.redirect("/console/")
    return page.render("signin.html", error=None, username="")


@router.post("/signin", response_class=HTMLResponse)
async def signin(page: VisitorDep) -> Response:
    form = await page.form()
    username = str(form.get("username") or "")[:128]
    password = str(form.get("password") or "")[:1024]
    code = str(form.get("code") or "")[:16]
    console, source = page.console, page.source or "unknown"
    # a name that cannot be a user is not written into the log (it may be anything typed)
    named = username if USERNAME.fullmatch(username) else None
    wait = await to_thread.run_sync(console.throttle.wait_s, username, source, page.now)
    if wait:
        await page.record("console.signin", status=429, user=named)
        refused = page.render("signin.html", status=429, username=username,
                              error=page.t("signin.throttled", seconds=wait))
        refused.headers["Retry-After"] = str(wait)
        return refused
    roles = page.services.policy.current.console_roles
    account = await to_thread.run_sync(
        lambda: console.users.authenticate(username, password, code, roles=roles, now=page.now))
    await to_thread.run_sync(console.throttle.note, username, source, account is not None,
                             page.now)
    if account is None:
        await page.record("console.signin", status=401, user=named)
        return page.render("signin.html", status=401, username=username,
                           error=page.t("signin.failed"))
    if page.session_token is not None:  # signing in again: the old session ends
        await to_thread.run_sync(console.sessions.close, page.session_token)
    token, session = await to_thread.run_sync(console.sessions.open, account.username, page.now)
    page.account, page.session, page.session_token = account, session, token
    await page.record("console.signin", status=200, role=account.role)
    response = page.redirect("/console/", flash="flash.signed_in")
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="strict",
                        secure=console.secure_cookies)
    return response


@router.post("/signout", response_class=HTMLResponse)
async def signout(page: VisitorDep) -> Response:
    if page.session_token is None:
        return page.redirect("/console/signin")
    await page.form()  # the CSRF token: no other site can sign a user out
    await to_thread.run_sync(page.console.sessions.close, page.session_token)
    await page.record("console.signout")
    response = page.redirect("/console/signin", flash="flash.signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
