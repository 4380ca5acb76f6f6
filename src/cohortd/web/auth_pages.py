"""Sign-in, sign-out and the live/test mode switch of the dashboard."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cohortd.api.deps import SessionDep
from cohortd.web import sessions
from cohortd.web.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SessionRow,
    ViewerDep,
    page,
    require_csrf,
    set_cookie,
)

router = APIRouter(prefix="/app", include_in_schema=False)

_LIFETIME_SECONDS = int(sessions.SESSION_LIFETIME.total_seconds())


def _safe_next(target: str | None) -> str:
    """Only dashboard paths: a sign-in link must not bounce the browser elsewhere."""
    if target and target.startswith("/app") and not target.startswith("//"):
        return target
    return "/app/overview"


@router.get("", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/app/overview", status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str | None = None, mode: str | None = None) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = page(
        request,
        "sign_in.html",
        None,
        csrf_token=token,
        next=_safe_next(next),
        wanted_mode=mode if mode in ("live", "test") else None,
        error=None,
    )
    set_cookie(request, response, CSRF_COOKIE, token, max_age=_LIFETIME_SECONDS)
    return response


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    row: SessionRow,
    api_key: Annotated[str, Form(max_length=300)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/app/overview",
) -> Response:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not sessions.same_token(cookie, csrf_token):
        return _refused(request, cookie, next, "The form expired; please sign in again.", 403)
    signed = sessions.sign_in(session, api_key, current=row)
    if signed is None:
        # Never echo the key back: it may be a real secret typed into the wrong box.
        return _refused(
            request, cookie, next, "That API key is not valid (unknown, revoked or expired).", 401
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    if signed.token is not None:
        set_cookie(request, response, SESSION_COOKIE, signed.token, max_age=_LIFETIME_SECONDS)
    return response


def _refused(request: Request, cookie: str, next: str, error: str, status: int) -> Response:
    token = cookie or secrets.token_urlsafe(32)
    response = page(
        request,
        "sign_in.html",
        None,
        status_code=status,
        csrf_token=token,
        next=_safe_next(next),
        wanted_mode=None,
        error=error,
    )
    set_cookie(request, response, CSRF_COOKIE, token, max_age=_LIFETIME_SECONDS)
    return response


@router.post("/sign-out")
def sign_out(
    session: SessionDep,
    viewer: ViewerDep,
    row: SessionRow,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require_csrf(viewer, csrf_token)
    if row is not None:
        sessions.sign_out(session, row)
    response = RedirectResponse("/app/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/mode")
def switch_mode(
    session: SessionDep,
    viewer: ViewerDep,
    row: SessionRow,
    mode: Annotated[str, Form(pattern="^(live|test)$")],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/app/overview",
) -> Response:
    require_csrf(viewer, csrf_token)
    assert row is not None  # a viewer implies a session
    if sessions.switch_mode(session, row, livemode=mode == "live"):
        return RedirectResponse(_safe_next(next), status_code=303)
    # No key of that mode in this session: ask for one (same organization).
    return RedirectResponse(f"/app/sign-in?mode={mode}", status_code=303)
