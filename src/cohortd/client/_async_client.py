"""``AsyncClient``: the API's resources over one async connection pool
(the blocking twin is generated
from this file by ``scripts/unasync_client.py``)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from cohortd.client._async_platform import (
    AsyncAnomaliesResource,
    AsyncApiKeysResource,
    AsyncDestinationsResource,
    AsyncEventsResource,
    AsyncExchangeRatesResource,
    AsyncImportsResource,
    AsyncMetricsResource,
    AsyncReplaysResource,
    AsyncSnapshotRunsResource,
)
from cohortd.client._async_resources import (
    AsyncCohortsResource,
    AsyncDefinitionsResource,
    AsyncMotionsResource,
    AsyncReportsResource,
    AsyncSubscribersResource,
    AsyncSubscriptionsResource,
)
from cohortd.client._async_transport import AsyncTransport
from cohortd.client._common import RetryPolicy, operation


class AsyncClient:
    """The cohortd API, async: ``async with AsyncClient(url, key) as api: ...``.

    ``base_url`` defaults to ``COHORTD_URL`` (else ``http://127.0.0.1:8000``),
    ``api_key`` to ``COHORTD_API_KEY``. 429 and 503 answers are retried as
    ``retry`` allows (``Retry-After`` honoured); writes carry an ``Idempotency-Key``.
    Failures raise ``cohortd.client.errors.ApiError`` subclasses."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._transport = AsyncTransport(
            base_url, api_key, timeout=timeout, retry=retry, http_client=http_client
        )
        self.reports = AsyncReportsResource(self._transport)
        self.cohorts = AsyncCohortsResource(self._transport)
        self.definitions = AsyncDefinitionsResource(self._transport)
        self.motions = AsyncMotionsResource(self._transport)
        self.subscribers = AsyncSubscribersResource(self._transport)
        self.subscriptions = AsyncSubscriptionsResource(self._transport)
        self.api_keys = AsyncApiKeysResource(self._transport)
        self.imports = AsyncImportsResource(self._transport)
        self.exchange_rates = AsyncExchangeRatesResource(self._transport)
        self.snapshots = AsyncSnapshotRunsResource(self._transport)
        self.anomalies = AsyncAnomaliesResource(self._transport)
        self.events = AsyncEventsResource(self._transport)
        self.destinations = AsyncDestinationsResource(self._transport)
        self.replays = AsyncReplaysResource(self._transport)
        self.metrics = AsyncMetricsResource(self._transport)

    @operation("GET", "/healthz")
    async def health(self) -> dict[str, Any]:
        """``{"status": "ok"}`` while the process is up."""
        return await self._transport.send_json("GET", "/healthz")

    @operation("GET", "/readyz")
    async def ready(self) -> dict[str, Any]:
        """Both planes answer (a 503 raises ``ServiceUnavailableError``)."""
        return await self._transport.send_json("GET", "/readyz")

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
