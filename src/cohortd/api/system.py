"""Health, readiness and the offline API docs page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["System"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A plane is unreachable"}})
def readyz(request: Request) -> JSONResponse:
    """Both planes answer a trivial query."""
    checks: dict[str, str] = {}
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["control_plane"] = "ok"
    except Exception as error:  # the type only: messages may hold connection details
        checks["control_plane"] = type(error).__name__
    try:
        request.app.state.warehouse.ping()
        checks["data_plane"] = "ok"
    except Exception as error:
        checks["data_plane"] = type(error).__name__
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )


@router.get("/docs", include_in_schema=False)
def docs_page() -> HTMLResponse:
    """Swagger UI served from the package's vendored assets: works with no internet."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="cohortd API",
        swagger_js_url="/static/swagger/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger/swagger-ui.css",
        swagger_favicon_url="/static/swagger/favicon-32x32.png",
    )
