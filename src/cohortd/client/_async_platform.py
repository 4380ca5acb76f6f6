"""``AsyncClient``'s other resources: keys, imports, exchange rates, snapshot runs and
anomalies, events and webhooks, metrics (the blocking twin is
generated from this file by ``scripts/unasync_client.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cohortd.client._async_transport import AsyncPager, AsyncTransport
from cohortd.client._common import body, operation, tokens
from cohortd.client.models import (
    Anomaly,
    AnomalySettings,
    ApiKey,
    ApiKeyWithSecret,
    Delivery,
    Destination,
    DestinationWithSecret,
    Event,
    ExchangeRate,
    ExchangeRatesWritten,
    ImportJob,
    Metrics,
    MetricSeries,
    Replay,
    SnapshotRun,
)

Day = date | str | None
Filter = str | Sequence[str] | None
Upload = str | Path | bytes | None


class _Resource:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport


def _paging(
    limit: int | None, starting_after: str | None, ending_before: str | None
) -> dict[str, Any]:
    return {"limit": limit, "starting_after": starting_after, "ending_before": ending_before}


class AsyncApiKeysResource(_Resource):
    @operation("GET", "/v1/api_keys")
    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[ApiKey]:
        return self._t.pager(ApiKey, "/v1/api_keys", _paging(limit, starting_after, ending_before))

    @operation("POST", "/v1/api_keys")
    async def create(
        self, *, role: str = "viewer", name: str | None = None, idempotency_key: str | None = None
    ) -> ApiKeyWithSecret:
        """A new key of this mode; its ``secret`` is shown this once."""
        return await self._t.send(
            ApiKeyWithSecret,
            "POST",
            "/v1/api_keys",
            json=body({"role": role, "name": name}),
            idempotency_key=idempotency_key,
        )

    @operation("GET", "/v1/api_keys/{key_id}")
    async def get(self, key_id: str) -> ApiKey:
        return await self._t.send(ApiKey, "GET", f"/v1/api_keys/{key_id}")

    @operation("DELETE", "/v1/api_keys/{key_id}")
    async def revoke(self, key_id: str, *, idempotency_key: str | None = None) -> ApiKey:
        return await self._t.send(
            ApiKey, "DELETE", f"/v1/api_keys/{key_id}", idempotency_key=idempotency_key
        )

    @operation("POST", "/v1/api_keys/{key_id}/rotate")
    async def rotate(
        self,
        key_id: str,
        *,
        grace_period_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> ApiKeyWithSecret:
        return await self._t.send(
            ApiKeyWithSecret,
            "POST",
            f"/v1/api_keys/{key_id}/rotate",
            json=body({"grace_period_seconds": grace_period_seconds}),
            idempotency_key=idempotency_key,
        )


def _upload(name: str, value: Upload) -> tuple[str, bytes] | None:
    """A file to send: a path (read now, so a retry can send it again) or bytes."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return (name, value)
    path = Path(value)
    return (path.name, path.read_bytes())


class AsyncImportsResource(_Resource):
    @operation("POST", "/v1/imports")
    async def create(
        self,
        *,
        customers: Upload = None,
        subscriptions: Upload = None,
        exchange_rates: Upload = None,
        on_error: str | None = None,
        idempotency_key: str | None = None,
    ) -> ImportJob:
        """Start an import job (CSV, Parquet or JSON Lines, gzip ok): paths or bytes."""
        uploads = {
            "customers": _upload("customers", customers),
            "subscriptions": _upload("subscriptions", subscriptions),
            "exchange_rates": _upload("exchange_rates", exchange_rates),
        }
        files = {name: upload for name, upload in uploads.items() if upload is not None}
        return await self._t.send(
            ImportJob,
            "POST",
            "/v1/imports",
            files=files,
            data={"on_error": on_error} if on_error else None,
            idempotency_key=idempotency_key,
        )

    @operation("GET", "/v1/imports")
    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[ImportJob]:
        return self._t.pager(
            ImportJob, "/v1/imports", _paging(limit, starting_after, ending_before)
        )

    @operation("GET", "/v1/imports/{import_id}")
    async def get(self, import_id: str) -> ImportJob:
        return await self._t.send(ImportJob, "GET", f"/v1/imports/{import_id}")


class AsyncExchangeRatesResource(_Resource):
    @operation("POST", "/v1/exchange_rates")
    async def write(
        self,
        rates: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> ExchangeRatesWritten:
        """Upsert rates ``{"date", "currency", "rate"}`` (units per 1 EUR)."""
        payload = [body(rate) for rate in rates]
        return await self._t.send(
            ExchangeRatesWritten,
            "POST",
            "/v1/exchange_rates",
            json=payload,
            idempotency_key=idempotency_key,
        )

    @operation("GET", "/v1/exchange_rates")
    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[ExchangeRate]:
        params = _paging(limit, starting_after, ending_before)
        return self._t.pager(ExchangeRate, "/v1/exchange_rates", params)


class AsyncSnapshotRunsResource(_Resource):
    @operation("POST", "/v1/snapshots/run")
    async def run(self, *, idempotency_key: str | None = None) -> SnapshotRun:
        """Record every cohort now and detect anomalies."""
        return await self._t.send(
            SnapshotRun, "POST", "/v1/snapshots/run", idempotency_key=idempotency_key
        )

    @operation("GET", "/v1/snapshots/runs")
    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[SnapshotRun]:
        params = _paging(limit, starting_after, ending_before)
        return self._t.pager(SnapshotRun, "/v1/snapshots/runs", params)

    @operation("GET", "/v1/snapshots/runs/{run_id}")
    async def get(self, run_id: str) -> SnapshotRun:
        return await self._t.send(SnapshotRun, "GET", f"/v1/snapshots/runs/{run_id}")


class AsyncAnomaliesResource(_Resource):
    @operation("GET", "/v1/anomalies")
    def list(
        self,
        *,
        cohort_id: str | None = None,
        type: str | None = None,
        severity: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[Anomaly]:
        params = {"cohort_id": cohort_id, "type": type, "severity": severity}
        params.update(_paging(limit, starting_after, ending_before))
        return self._t.pager(Anomaly, "/v1/anomalies", params)

    @operation("GET", "/v1/settings/anomalies")
    async def settings(self) -> AnomalySettings:
        return await self._t.send(AnomalySettings, "GET", "/v1/settings/anomalies")

    @operation("PUT", "/v1/settings/anomalies")
    async def update_settings(
        self, *, idempotency_key: str | None = None, **thresholds: Decimal | int | str
    ) -> AnomalySettings:
        """Change the given thresholds (``low_nrr_warning=95``, ...); others keep theirs."""
        return await self._t.send(
            AnomalySettings,
            "PUT",
            "/v1/settings/anomalies",
            json=body(thresholds),
            idempotency_key=idempotency_key,
        )


class AsyncEventsResource(_Resource):
    @operation("GET", "/v1/events")
    def list(
        self,
        *,
        type: str | Sequence[str] | None = None,
        subscriber_id: str | None = None,
        created_gte: datetime | str | None = None,
        created_lt: datetime | str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[Event]:
        """Events, newest first; ``type`` repeats (``subscription.*`` wildcards allowed)."""
        params: dict[str, Any] = {
            "type": [type] if isinstance(type, str) else type,
            "subscriber_id": subscriber_id,
            "created_gte": created_gte,
            "created_lt": created_lt,
        }
        params.update(_paging(limit, starting_after, ending_before))
        return self._t.pager(Event, "/v1/events", params)

    @operation("GET", "/v1/events/{event_id}")
    async def get(self, event_id: str) -> Event:
        return await self._t.send(Event, "GET", f"/v1/events/{event_id}")


class AsyncDestinationsResource(_Resource):
    @operation("POST", "/v1/destinations")
    async def create(
        self,
        *,
        url: str,
        event_types: Sequence[str] | None = None,
        pii_mode: str | None = None,
        description: str | None = None,
        schema_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> DestinationWithSecret:
        """Register a webhook endpoint; ``signing_secret`` is shown this once."""
        payload = body(
            {
                "url": url,
                "event_types": event_types,
                "pii_mode": pii_mode,
                "description": description,
                "schema_version": schema_version,
            }
        )
        return await self._t.send(
            DestinationWithSecret,
            "POST",
            "/v1/destinations",
            json=payload,
            idempotency_key=idempotency_key,
        )

    @operation("GET", "/v1/destinations")
    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[Destination]:
        params = _paging(limit, starting_after, ending_before)
        return self._t.pager(Destination, "/v1/destinations", params)

    @operation("GET", "/v1/destinations/{destination_id}")
    async def get(self, destination_id: str) -> Destination:
        return await self._t.send(Destination, "GET", f"/v1/destinations/{destination_id}")

    @operation("PATCH", "/v1/destinations/{destination_id}")
    async def update(
        self, destination_id: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> Destination:
        """Change the given fields (``url``, ``event_types``, ``disabled=False``, ...)."""
        return await self._t.send(
            Destination,
            "PATCH",
            f"/v1/destinations/{destination_id}",
            json=body(fields),
            idempotency_key=idempotency_key,
        )

    @operation("DELETE", "/v1/destinations/{destination_id}")
    async def delete(
        self, destination_id: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return await self._t.send_json(
            "DELETE", f"/v1/destinations/{destination_id}", idempotency_key=idempotency_key
        )

    @operation("POST", "/v1/destinations/{destination_id}/rotate_secret")
    async def rotate_secret(
        self,
        destination_id: str,
        *,
        grace_hours: int | None = None,
        idempotency_key: str | None = None,
    ) -> DestinationWithSecret:
        return await self._t.send(
            DestinationWithSecret,
            "POST",
            f"/v1/destinations/{destination_id}/rotate_secret",
            json=body({"grace_hours": grace_hours}),
            idempotency_key=idempotency_key,
        )

    @operation("POST", "/v1/destinations/{destination_id}/test")
    async def test(
        self, destination_id: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Send a ``destination.test`` event."""
        return await self._t.send_json(
            "POST", f"/v1/destinations/{destination_id}/test", idempotency_key=idempotency_key
        )

    @operation("GET", "/v1/destinations/{destination_id}/deliveries")
    def deliveries(
        self,
        destination_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncPager[Delivery]:
        path = f"/v1/destinations/{destination_id}/deliveries"
        return self._t.pager(Delivery, path, _paging(limit, starting_after, ending_before))


class AsyncReplaysResource(_Resource):
    @operation("POST", "/v1/replay")
    async def create(
        self,
        *,
        destination_id: str,
        from_: datetime | str,
        to: datetime | str | None = None,
        event_types: Sequence[str] | None = None,
        dedupe_strategy: str | None = None,
        idempotency_key: str | None = None,
    ) -> Replay:
        """Redeliver stored events to a destination (``from_`` is ``from``)."""
        payload = body(
            {
                "destination_id": destination_id,
                "from": from_,
                "to": to,
                "event_types": event_types,
                "dedupe_strategy": dedupe_strategy,
            }
        )
        return await self._t.send(
            Replay, "POST", "/v1/replay", json=payload, idempotency_key=idempotency_key
        )

    @operation("GET", "/v1/replay/{replay_id}")
    async def get(self, replay_id: str) -> Replay:
        return await self._t.send(Replay, "GET", f"/v1/replay/{replay_id}")


class AsyncMetricsResource(_Resource):
    @staticmethod
    def _params(
        start_date: Day,
        end_date: Day,
        interval: str | None,
        base_currency: str | None,
        fix_fx: bool | None,
        filters: Mapping[str, Filter],
        cohort_id: str | None,
    ) -> dict[str, Any]:
        return {
            "start_date": start_date,
            "end_date": end_date,
            "interval": interval,
            "baseCurrency": base_currency,
            "fix_fx": fix_fx,
            "cohort_id": cohort_id,
            **{name: tokens(value) for name, value in filters.items()},
        }

    @operation("GET", "/v1/metrics")
    async def get(
        self,
        *,
        start_date: Day = None,
        end_date: Day = None,
        interval: str | None = None,
        base_currency: str | None = None,
        fix_fx: bool | None = None,
        region: Filter = None,
        currency: Filter = None,
        industry: Filter = None,
        channel: Filter = None,
        size: Filter = None,
        cohort_id: str | None = None,
    ) -> Metrics:
        """SaaS metrics per period (SPEC §8)."""
        filters = {
            "region": region,
            "currency": currency,
            "industry": industry,
            "channel": channel,
            "size": size,
        }
        params = self._params(
            start_date, end_date, interval, base_currency, fix_fx, filters, cohort_id
        )
        return await self._t.send(Metrics, "GET", "/v1/metrics", params=params)

    @operation("GET", "/v1/metrics/{metric}")
    async def series(
        self,
        metric: str,
        *,
        start_date: Day = None,
        end_date: Day = None,
        interval: str | None = None,
        base_currency: str | None = None,
        fix_fx: bool | None = None,
        region: Filter = None,
        currency: Filter = None,
        industry: Filter = None,
        channel: Filter = None,
        size: Filter = None,
        cohort_id: str | None = None,
    ) -> MetricSeries:
        """One metric's series (``"mrr"``, ``"nrr"``, ...) with its change per period."""
        filters = {
            "region": region,
            "currency": currency,
            "industry": industry,
            "channel": channel,
            "size": size,
        }
        params = self._params(
            start_date, end_date, interval, base_currency, fix_fx, filters, cohort_id
        )
        return await self._t.send(MetricSeries, "GET", f"/v1/metrics/{metric}", params=params)
