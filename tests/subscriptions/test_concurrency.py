"""Fifty concurrent overrides on one customer over real HTTP: the history that results
is the serial replay of the accepted ones, with no overlapping or lost stretch.

On PostgreSQL two servers (two warehouse connections, as two processes would have)
share the database, so the writers are serialized by the database, not by one
process's lock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from cohortd.app import create_app
from cohortd.engine import derived
from cohortd.subscriptions import repository
from cohortd.subscriptions.rules import (
    Override,
    OverrideKind,
    SubscriptionRow,
    apply_override,
    rewritten,
)
from cohortd.warehouse import Scope
from cohortd.warehouse.tables import DERIVED_TABLES
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness, make_settings, new_org
from tests.fixtures.live import LiveServer, free_port
from tests.subscriptions.helpers import stored_rows

D0 = date(2025, 1, 1)
CHANGES = 50


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[str], ApiHarness]]:
    tmp = Path(tmp_path_factory.mktemp("race"))
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        apps = [
            create_app(
                make_settings(tmp / str(i), database_url=url, warehouse_url=url),
                configure_logs=False,
            )
            for i in range(2)
        ]
    else:  # one process holds a DuckDB file
        apps = [create_app(make_settings(tmp), configure_logs=False)]
    with LiveServer(apps[0], free_port()) as first:
        if len(apps) == 1:
            yield [first.url], new_org(apps[0])
            return
        with LiveServer(apps[1], free_port()) as second:
            yield [first.url, second.url], new_org(apps[0])


def test_fifty_concurrent_plan_changes_equal_their_serial_replay(
    servers: tuple[list[str], ApiHarness],
) -> None:
    urls, harness = servers
    scope = Scope(harness.org_id, False)
    load(
        harness.warehouse,
        scope,
        [Cust("ann", currency="USD")],
        [Sub("sub_ann", "ann", D0, None, 1000, plan_id="start")],
    )
    days = list(range(1, CHANGES + 1))
    random.Random(21).shuffle(days)

    def change(i: int) -> tuple[int, httpx.Response]:
        body = {
            "effective_date": (D0 + timedelta(days=days[i])).isoformat(),
            "plan_id": f"plan{i}",
            "mrr": str(i + 1),
        }
        url = f"{urls[i % len(urls)]}/v1/subscriptions/sub_ann/change_plan"
        return i, httpx.post(url, json=body, headers=harness.headers(), timeout=120)

    with ThreadPoolExecutor(max_workers=CHANGES) as pool:
        answers = list(pool.map(change, range(CHANGES)))

    accepted: dict[int, int] = {}  # the answer's row count - 1 = its place in the serial order
    for i, answer in answers:
        assert answer.status_code in (200, 422), answer.text
        if answer.status_code == 200:
            accepted[len(answer.json()["data"]) - 1] = i
        else:
            assert answer.json()["errors"][0]["loc"] == ["body", "effective_date"]
    assert sorted(accepted) == list(range(1, len(accepted) + 1))  # one at a time, none lost

    # the serial replay of the accepted changes, in the order the answers give
    rows = [SubscriptionRow("sub_ann", "ann", "start", "USD", 1000, D0, None, "active")]
    for place in sorted(accepted):
        i = accepted[place]
        asked = Override(
            OverrideKind.change_plan,
            "sub_ann",
            D0 + timedelta(days=days[i]),
            plan_id=f"plan{i}",
            mrr_minor=(i + 1) * 100,
            currency="USD",
        )
        made = f"new{place}"
        rows = rewritten(rows, apply_override(rows, asked, lambda made=made: made))
    stored = repository.customer_rows(harness.warehouse, scope, "ann")

    def shape(found: list[SubscriptionRow]) -> list[tuple[Any, ...]]:
        return sorted((r.plan_id, r.mrr_minor, r.start_date, r.end_date) for r in found)

    assert shape(stored) == shape(rows)
    # the stretches tile the history: each ends where the next starts, the last runs on
    ordered = sorted(stored, key=lambda r: r.start_date)
    assert ordered[0].start_date == D0 and ordered[-1].end_date is None
    for before, after in pairwise(ordered):
        assert before.end_date == after.start_date
    # and the derived rows are those of a full rebuild
    live = stored_rows(harness.warehouse, scope, DERIVED_TABLES)
    with harness.warehouse.transaction():
        derived.refresh(harness.warehouse, scope)
    assert stored_rows(harness.warehouse, scope, DERIVED_TABLES) == live
