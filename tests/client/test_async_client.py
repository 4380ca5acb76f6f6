"""``cohortd.AsyncClient`` against the real server: the same answers as ``Client``."""

from __future__ import annotations

import asyncio

import pytest

from cohortd.client import AsyncClient, BadRequestError, Client, models
from tests.client.conftest import Served


def test_async_report_paging_and_errors(served: Served) -> None:
    async def session() -> tuple[models.CohortReport, list[str], BadRequestError]:
        async with AsyncClient(served.url, served.key) as api:
            report = await api.reports.cohort(interval="quarter", date="2025-08-01")
            ids = [s.id async for s in api.subscribers.list(limit=100, country="DE")]
            first = await api.subscribers.list(limit=2).first_page()
            assert len(first.data) == 2 and first.has_more
            with pytest.raises(BadRequestError) as caught:
                await api.reports.cohort(base_currency="XXX")
            return report, ids, caught.value

    report, ids, error = asyncio.run(session())
    with Client(served.url, served.key) as api:
        same = api.reports.cohort(interval="quarter", date="2025-08-01")
        sync_ids = [s.id for s in api.subscribers.list(limit=100, country="DE")]
    assert report == same
    assert ids == sync_ids and ids
    assert error.status == 400 and error.fields == ["baseCurrency"]
