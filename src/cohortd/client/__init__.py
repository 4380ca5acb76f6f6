"""The cohortd API from Python: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

This package imports nothing from the rest of ``cohortd`` (only httpx and Pydantic), so
it can ship on its own. See docs/python.md.
"""

from cohortd.client import errors, models
from cohortd.client._async_client import AsyncClient
from cohortd.client._async_transport import AsyncPager
from cohortd.client._common import OPERATIONS, RetryPolicy
from cohortd.client._sync_client import Client
from cohortd.client._sync_transport import Pager
from cohortd.client.errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    CohortdError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)

__all__ = [
    "OPERATIONS",
    "ApiConnectionError",
    "ApiError",
    "AsyncClient",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ClientError",
    "CohortdError",
    "ConflictError",
    "NotFoundError",
    "Pager",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "errors",
    "models",
]
