"""Typed exceptions for RFC 9457 problem+json answers (and for failures to reach the API)."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ClientError",
    "CohortdError",
    "ConflictError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "error_from_problem",
    "error_from_response",
]


class CohortdError(Exception):
    """Base of every exception the client raises."""


class ApiConnectionError(CohortdError):
    """The server could not be reached (connection refused, timeout, ...)."""


class ApiError(CohortdError):
    """A 4xx or 5xx answer. Carries the problem's fields as attributes."""

    def __init__(
        self,
        *,
        status: int,
        type: str,
        title: str,
        detail: str,
        errors: list[dict[str, Any]],
        request_id: str | None,
        body: dict[str, Any],
        headers: httpx.Headers,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" + (f" [{request_id}]" if request_id else ""))
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors
        self.request_id = request_id
        self.body = body
        self.headers = headers

    @property
    def fields(self) -> list[str]:
        """The names the problem's ``errors`` point at (the last part of each ``loc``)."""
        return [str(error["loc"][-1]) for error in self.errors if error.get("loc")]


class ClientError(ApiError):
    """A 4xx: the request should change before it is sent again."""


class ServerError(ApiError):
    """A 5xx: the server failed; the request may succeed later."""


class BadRequestError(ClientError):
    """400: a parameter has a bad value (``errors`` names it)."""


class AuthenticationError(ClientError):
    """401: missing, bad, revoked or expired key."""


class PermissionDeniedError(ClientError):
    """403: the key's role may not do this."""


class NotFoundError(ClientError):
    """404: no such object in this organization and mode."""


class ConflictError(ClientError):
    """409: the object is in use, or a duplicate request is still running."""


class PayloadTooLargeError(ClientError):
    """413: the request body is over the server's cap."""


class UnprocessableEntityError(ClientError):
    """422: the body is invalid (``errors`` names the fields), or the report is too large."""


class RateLimitError(ClientError):
    """429: the key's rate limit; ``retry_after`` is the server's advice in seconds."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))


class ServiceUnavailableError(ServerError):
    """503: a query timed out or a plane is unreachable."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delay-seconds form, or an HTTP date)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_problem(
    status: int, body: dict[str, Any], headers: httpx.Headers | None = None
) -> ApiError:
    """The typed exception for a problem+json body (``status`` picks the class)."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ClientError)
    raw_errors = body.get("errors")
    errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
    detail = body.get("detail")
    request_id = body.get("request_id")
    return cls(
        status=status,
        type=str(body.get("type", "about:blank")),
        title=str(body.get("title", "")),
        detail=str(detail) if detail is not None else "",
        errors=errors,
        request_id=str(request_id) if request_id else None,
        body=body,
        headers=headers or httpx.Headers(),
    )


def error_from_response(response: httpx.Response) -> ApiError:
    """The typed exception for a 4xx/5xx answer (problem+json, or any other body)."""
    try:
        decoded = response.json()
    except ValueError:
        decoded = None
    body: dict[str, Any] = dict(decoded) if isinstance(decoded, dict) else {}
    body.setdefault("title", response.reason_phrase)
    body.setdefault("detail", response.text[:200])
    if not body.get("request_id") and "X-Request-Id" in response.headers:
        body["request_id"] = response.headers["X-Request-Id"]
    return error_from_problem(response.status_code, body, response.headers)
