# Generated from _async_client.py by scripts/unasync_client.py: do not edit.
"""``Client``: the API's resources over one blocking connection pool
(generated from its ``_async_``
twin by ``scripts/unasync_client.py``)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from cohortd.client._common import RetryPolicy, operation
from cohortd.client._sync_platform import (
    AnomaliesResource,
    ApiKeysResource,
    DestinationsResource,
    EventsResource,
    ExchangeRatesResource,
    ImportsResource,
    MetricsResource,
    ReplaysResource,
    SnapshotRunsResource,
)
from cohortd.client._sync_resources import (
    CohortsResource,
    DefinitionsResource,
    MotionsResource,
    ReportsResource,
    SubscribersResource,
    SubscriptionsResource,
)
from cohortd.client._sync_transport import Transport


class Client:
    """The cohortd API, blocking: ``with Client(url, key) as api: ...``.

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
        http_client: httpx.Client | None = None,
    ) -> None:
        self._transport = Transport(
            base_url, api_key, timeout=timeout, retry=retry, http_client=http_client
        )
        self.reports = ReportsResource(self._transport)
        self.cohorts = CohortsResource(self._transport)
        self.definitions = DefinitionsResource(self._transport)
        self.motions = MotionsResource(self._transport)
        self.subscribers = SubscribersResource(self._transport)
        self.subscriptions = SubscriptionsResource(self._transport)
        self.api_keys = ApiKeysResource(self._transport)
        self.imports = ImportsResource(self._transport)
        self.exchange_rates = ExchangeRatesResource(self._transport)
        self.snapshots = SnapshotRunsResource(self._transport)
        self.anomalies = AnomaliesResource(self._transport)
        self.events = EventsResource(self._transport)
        self.destinations = DestinationsResource(self._transport)
        self.replays = ReplaysResource(self._transport)
        self.metrics = MetricsResource(self._transport)

    @operation("GET", "/healthz")
    def health(self) -> dict[str, Any]:
        """``{"status": "ok"}`` while the process is up."""
        return self._transport.send_json("GET", "/healthz")

    @operation("GET", "/readyz")
    def ready(self) -> dict[str, Any]:
        """Both planes answer (a 503 raises ``ServiceUnavailableError``)."""
        return self._transport.send_json("GET", "/readyz")

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
