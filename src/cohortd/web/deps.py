"""What every dashboard page needs: templates, the signed-in viewer, CSRF checks."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from cohortd.api.deps import SessionDep
from cohortd.api.reads import timeout_error
from cohortd.config import Settings
from cohortd.errors import AppError, Forbidden
from cohortd.warehouse import Warehouse
from cohortd.web import sessions
from cohortd.web.models import WebSession

SESSION_COOKIE: Final = "cohortd_session"
CSRF_COOKIE: Final = "cohortd_csrf"  # double-submit token of the sign-in form only

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _session_row(request: Request, session: SessionDep) -> WebSession | None:
    return sessions.find(session, request.cookies.get(SESSION_COOKIE))


SessionRow = Annotated[WebSession | None, Depends(_session_row)]


def _viewer(request: Request, session: SessionDep, row: SessionRow) -> sessions.Viewer:
    found = sessions.viewer(session, row) if row is not None else None
    if found is None:
        # A 303 sends the browser to the sign-in form and back here afterwards.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": f"/app/sign-in?next={quote(target)}"})
    return found


ViewerDep = Annotated[sessions.Viewer, Depends(_viewer)]


def require_csrf(viewer: sessions.Viewer, token: str | None) -> None:
    """Every dashboard form carries the session's CSRF token (SameSite=Strict is the
    second wall, not the only one)."""
    if not token or not sessions.same_token(token, viewer.csrf_token):
        raise Forbidden("The form's CSRF token is missing or wrong; reload the page and retry.")


def require_writer(viewer: sessions.Viewer) -> None:
    if not viewer.may_write:
        raise Forbidden(f"The '{viewer.principal.role}' role may only read.")


def require_admin(viewer: sessions.Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden(f"The '{viewer.principal.role}' role may not manage keys.")


def page(
    request: Request,
    name: str,
    viewer: sessions.Viewer | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``name`` inside the layout, with the viewer (mode banner, nav, CSRF token)."""
    return templates.TemplateResponse(
        request, name, {"viewer": viewer, **context}, status_code=status_code
    )


def deadline_reading(warehouse: Warehouse, settings: Settings) -> AbstractContextManager[None]:
    """A page's analytic reads: one reader under the request deadline, as the API's
    (``COHORTD_QUERY_TIMEOUT_SECONDS``); past it the page shows the 503 problem."""
    seconds = settings.query_timeout_seconds
    return warehouse.reading(seconds, timeout_error(seconds))


def problem_page(
    request: Request, viewer: sessions.Viewer, problem: AppError, *, back: str
) -> HTMLResponse:
    """An expected failure (unknown id, ...) as a page of the dashboard, not JSON."""
    return page(
        request, "error.html", viewer, status_code=problem.status, problem=problem, back=back
    )


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int
) -> None:
    """HttpOnly, SameSite=Strict, and Secure whenever the page is served over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
