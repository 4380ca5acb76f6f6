"""RFC 9457 problem+json: one builder and the app's exception handlers."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cohortd.errors import PROBLEM_BASE, AppError, BadRequest, FieldError
from cohortd.logs import request_id_var

logger = logging.getLogger("cohortd.errors")

PROBLEM_JSON = "application/problem+json"

_HTTP_SLUGS = {
    400: ("bad-request", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not Found"),
    405: ("method-not-allowed", "Method Not Allowed"),
    406: ("not-acceptable", "Not Acceptable"),
    413: ("payload-too-large", "Payload Too Large"),
    415: ("unsupported-media-type", "Unsupported Media Type"),
    422: ("validation-error", "Validation Error"),
    429: ("rate-limited", "Too Many Requests"),
    500: ("internal-error", "Internal Server Error"),
}


def problem_body(
    *,
    status: int,
    type_uri: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "type": type_uri,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id_var.get(),
    }
    if errors:
        body["errors"] = [e.as_json() for e in errors]
    if extra:
        body.update(extra)
    return json.dumps(body).encode()


def problem_response(error: AppError) -> Response:
    return Response(
        problem_body(
            status=error.status,
            type_uri=error.type_uri,
            title=error.title,
            detail=error.detail,
            errors=error.errors,
            extra=error.extra,
        ),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for item in exc.errors():
        loc = tuple(item.get("loc", ()))
        errors.append(FieldError(loc, str(item.get("msg", "invalid"))))
    return errors


async def _on_app_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if exc.status >= 500:
        logger.error("request failed", extra={"problem": exc.slug})
    return problem_response(exc)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any(item.get("type") == "json_invalid" for item in exc.errors()):
        return problem_response(BadRequest("The request body is not valid JSON."))
    errors = _validation_errors(exc)
    named = ", ".join(".".join(str(p) for p in e.loc) for e in errors[:5])
    return problem_response(_Unprocessable(f"Invalid request: {named}.", errors=errors))


class _Unprocessable(AppError):
    status = 422
    slug = "validation-error"
    title = "Validation Error"


async def _on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP Error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return Response(
        problem_body(
            status=exc.status_code, type_uri=PROBLEM_BASE + slug, title=title, detail=detail
        ),
        status_code=exc.status_code,
        media_type=PROBLEM_JSON,
        headers=getattr(exc, "headers", None),
    )


async def _on_unexpected(_request: Request, exc: Exception) -> Response:
    # Type only: the message of an unexpected error may hold SQL or data.
    logger.error("unexpected error", extra={"exception_type": type(exc).__name__})
    return Response(
        problem_body(
            status=500,
            type_uri=PROBLEM_BASE + "internal-error",
            title="Internal Server Error",
            detail="An unexpected error occurred. Quote the request_id when reporting it.",
        ),
        status_code=500,
        media_type=PROBLEM_JSON,
    )


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
