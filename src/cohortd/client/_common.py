"""What the async and sync clients share: the operation registry, query parameters, the
retry policy and the idempotency keys."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from cohortd.client.errors import parse_retry_after

F = TypeVar("F", bound=Callable[..., Any])

VERSION: Final = "0.1.0"
USER_AGENT: Final = f"cohortd-python/{VERSION}"
API_KEY_ENV: Final = "COHORTD_API_KEY"
URL_ENV: Final = "COHORTD_URL"
DEFAULT_URL: Final = "http://127.0.0.1:8000"
WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES: Final = frozenset({429, 503})
# a 409 about a duplicate whose first request is still running: once it finishes, the
# same key replays its answer, so waiting and retrying is the right thing
IDEMPOTENCY_RUNNING: Final = "Idempotency-Key is still running"

# (method, path template) -> "resource.method", per client module (async and sync)
OPERATIONS: dict[str, dict[tuple[str, str], str]] = {}


def operation(method: str, path: str) -> Callable[[F], F]:
    """Record that the decorated client method calls ``method path`` (the coverage test
    compares these with the server's ``/openapi.json``)."""

    def record(function: F) -> F:
        table = OPERATIONS.setdefault(function.__module__, {})
        table[(method.upper(), path)] = function.__qualname__
        return function

    return record


def retryable(status: int, body: bytes) -> bool:
    """429, 503, and the 409 of a duplicate request whose first one is still running."""
    if status in RETRY_STATUSES:
        return True
    return status == 409 and IDEMPOTENCY_RUNNING.encode() in body


def resolve_api_key(api_key: str | None) -> str:
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise ValueError(f"Pass api_key= or set {API_KEY_ENV} (an rk_test_ or rk_live_ key).")
    return key


def resolve_base_url(base_url: str | None) -> str:
    return base_url or os.environ.get(URL_ENV) or DEFAULT_URL


def new_idempotency_key() -> str:
    return f"cohortd-python-{uuid.uuid4()}"


def query_value(value: Any) -> Any:
    """A Python value as a query parameter: booleans ``true``/``false``, dates ISO."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def query(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop absent (``None``) parameters; lists stay lists (repeated parameters)."""
    cleaned: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            cleaned[name] = [query_value(v) for v in value]
        else:
            cleaned[name] = query_value(value)
    return cleaned


def tokens(value: str | Iterable[str] | None) -> str | None:
    """A multi-value report filter: a string as is, a sequence space-separated."""
    if value is None or isinstance(value, str):
        return value
    return " ".join(value)


def body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body from keyword arguments: ``None`` means "not given"; dates and
    decimals as JSON-friendly text."""
    return {name: _json_value(value) for name, value in fields.items() if value is not None}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    return value


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of 429 and 503 answers (and of a 409 for a duplicate still running).

    The wait is the server's ``Retry-After`` when it gives one, else exponential backoff
    (``backoff`` × 2^attempt, half to full jitter). A wait longer than ``max_wait`` is not
    waited: the error is raised at once (a ``RateLimitError`` tells ``retry_after``)."""

    max_retries: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0

    def delay(self, attempt: int, retry_after: str | None) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; None = do not retry."""
        if attempt >= self.max_retries:
            return None
        advised = parse_retry_after(retry_after)
        if advised is not None:
            return advised if advised <= self.max_wait else None
        wait = min(self.max_wait, self.backoff * (2**attempt))
        return float(wait * random.uniform(0.5, 1.0))
