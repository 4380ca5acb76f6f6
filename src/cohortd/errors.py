"""One error tree. Each subclass carries its HTTP status and problem type URI (RFC 9457)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_BASE = "https://cohortd.dev/problems/"


@dataclass(frozen=True)
class FieldError:
    """One problem with one input: ``loc`` names where, ``msg`` says what."""

    loc: tuple[str | int, ...]
    msg: str

    def as_json(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg}


class AppError(Exception):
    """Base of every expected failure. Never carries a secret, an email or SQL."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(AppError):
    status = 400
    slug = "bad-request"
    title = "Bad Request"


class InvalidParameter(BadRequest):
    """A query parameter has a value we cannot use; ``errors`` names it."""

    slug = "invalid-parameter"
    title = "Invalid Parameter"

    def __init__(self, parameter: str, msg: str) -> None:
        super().__init__(
            f"Invalid value for '{parameter}': {msg}",
            errors=[FieldError(("query", parameter), msg)],
        )
        self.parameter = parameter


class Unauthorized(AppError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(AppError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = "Not Found"


class MethodNotAllowed(AppError):
    status = 405
    slug = "method-not-allowed"
    title = "Method Not Allowed"


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(AppError):
    status = 413
    slug = "payload-too-large"
    title = "Payload Too Large"


class UnsupportedMediaType(AppError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported Media Type"


class ValidationFailed(AppError):
    status = 422
    slug = "validation-error"
    title = "Validation Error"


class ReportTooLarge(ValidationFailed):
    slug = "report-too-large"
    title = "Report Too Large"


class IdempotencyMismatch(ValidationFailed):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key Reused"


class RateLimited(AppError):
    status = 429
    slug = "rate-limited"
    title = "Too Many Requests"


class QueryTimeout(AppError):
    status = 503
    slug = "query-timeout"
    title = "Query Timeout"


class ServiceUnavailable(AppError):
    status = 503
    slug = "service-unavailable"
    title = "Service Unavailable"


class DataError(AppError):
    """The data plane cannot answer from the data it holds (e.g. a currency without rates)."""

    status = 422
    slug = "data-error"
    title = "Data Error"
