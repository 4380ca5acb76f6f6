"""Idempotency-Key (SPEC §5) through real HTTP, on SQLite and PostgreSQL control planes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import func, select

from cohortd.app import create_app
from cohortd.db import utcnow
from cohortd.idempotency.store import IdempotencyStore, Verdict
from cohortd.keys.models import ApiKey
from tests.fixtures.api import ApiHarness, make_settings, new_org
from tests.fixtures.live import LiveServer
from tests.fixtures.live import free_port as _free_port

slow = APIRouter()


@slow.post("/v1/_test/slow")
def slow_write() -> dict[str, str]:
    time.sleep(1.0)
    return {"done": "yes"}


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module"
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, ApiHarness]]:
    tmp = Path(tmp_path_factory.mktemp("idem"))
    overrides: dict[str, object] = {}
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        overrides = {"database_url": url}
    app = create_app(make_settings(tmp, **overrides), configure_logs=False)
    app.include_router(slow)
    with LiveServer(app, _free_port()) as server:
        harness = new_org(app)
        yield server, harness


def _keys_count(harness: ApiHarness) -> int:
    with harness.app.state.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(ApiKey).where(ApiKey.org_id == harness.org_id)
            )
            or 0
        )


def test_fifty_concurrent_duplicates_have_one_effect(live: tuple[LiveServer, ApiHarness]) -> None:
    server, harness = live
    before = _keys_count(harness)
    headers = harness.headers(**{"Idempotency-Key": "create-once"})

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(
                *[
                    client.post("/v1/api_keys", json={"role": "viewer"}, headers=headers)
                    for _ in range(50)
                ]
            )

    responses = asyncio.run(fire())
    assert _keys_count(harness) == before + 1
    originals = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(conflicts) == 50
    for replay in replays:
        assert replay.status_code == 201 and replay.content == originals[0].content
    again = httpx.post(f"{server.url}/v1/api_keys", json={"role": "viewer"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.content == originals[0].content


def test_same_key_different_body_is_422(live: tuple[LiveServer, ApiHarness]) -> None:
    server, harness = live
    headers = harness.headers(**{"Idempotency-Key": "k-mismatch"})
    first = httpx.post(f"{server.url}/v1/api_keys", json={"role": "viewer"}, headers=headers)
    assert first.status_code == 201
    second = httpx.post(f"{server.url}/v1/api_keys", json={"role": "developer"}, headers=headers)
    assert second.status_code == 422
    assert second.headers["content-type"] == "application/problem+json"


def test_duplicate_while_running_is_409(live: tuple[LiveServer, ApiHarness]) -> None:
    server, harness = live
    headers = harness.headers(**{"Idempotency-Key": "k-slow"})

    async def overlap() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            first = asyncio.create_task(client.post("/v1/_test/slow", headers=headers))
            await asyncio.sleep(0.3)
            second = await client.post("/v1/_test/slow", headers=headers)
            return await first, second

    first, second = asyncio.run(overlap())
    assert first.status_code == 200 and second.status_code == 409


def test_key_of_256_chars_is_400_and_255_is_fine(live: tuple[LiveServer, ApiHarness]) -> None:
    server, harness = live
    too_long = httpx.post(
        f"{server.url}/v1/api_keys",
        json={},
        headers=harness.headers(**{"Idempotency-Key": "k" * 256}),
    )
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    ok = httpx.post(
        f"{server.url}/v1/api_keys",
        json={},
        headers=harness.headers(**{"Idempotency-Key": "k" * 255}),
    )
    assert ok.status_code == 201


def test_validation_failures_are_not_stored(live: tuple[LiveServer, ApiHarness]) -> None:
    server, harness = live
    headers = harness.headers(**{"Idempotency-Key": "k-invalid-first"})
    bad = httpx.post(f"{server.url}/v1/api_keys", json={"role": "root"}, headers=headers)
    assert bad.status_code == 422
    good = httpx.post(f"{server.url}/v1/api_keys", json={"role": "root"}, headers=headers)
    assert good.status_code == 422 and "idempotent-replayed" not in good.headers


def test_keys_are_scoped_to_org_and_mode(live: tuple[LiveServer, ApiHarness]) -> None:
    server, harness = live
    other = new_org(harness.app)
    key = {"Idempotency-Key": "k-shared-name"}
    a = httpx.post(f"{server.url}/v1/api_keys", json={}, headers=harness.headers(**key))
    b = httpx.post(f"{server.url}/v1/api_keys", json={}, headers=other.headers(**key))
    c = httpx.post(f"{server.url}/v1/api_keys", json={}, headers=harness.headers("live", **key))
    assert [r.status_code for r in (a, b, c)] == [201, 201, 201]
    assert len({r.json()["id"] for r in (a, b, c)}) == 3


def test_records_expire_after_the_ttl(api_any: ApiHarness) -> None:
    now = [utcnow()]
    store = IdempotencyStore(
        api_any.app.state.sessions, ttl=timedelta(hours=24), clock=lambda: now[0]
    )
    first = store.claim(org_id=api_any.org_id, livemode=False, key="exp", fingerprint="f1")
    assert first.verdict is Verdict.proceed and first.record_id is not None
    store.complete(
        first.record_id, status=201, headers=[("content-type", "application/json")], body=b"{}"
    )
    now[0] += timedelta(hours=23, minutes=59)
    assert (
        store.claim(org_id=api_any.org_id, livemode=False, key="exp", fingerprint="f1").verdict
        is Verdict.replay
    )
    now[0] += timedelta(minutes=2)
    assert (
        store.claim(org_id=api_any.org_id, livemode=False, key="exp", fingerprint="f2").verdict
        is Verdict.proceed
    )


def test_a_duplicate_sent_as_soon_as_the_answer_arrives_is_replayed(
    live: tuple[LiveServer, ApiHarness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's last part leaves only once the record is stored: a slow store must
    make the client wait, not answer a duplicate with 409 "still running"."""
    server, harness = live
    complete = IdempotencyStore.complete

    def slow_complete(self: IdempotencyStore, *args: object, **kwargs: object) -> None:
        time.sleep(0.5)
        complete(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(IdempotencyStore, "complete", slow_complete)
    headers = harness.headers(**{"Idempotency-Key": "k-stored-first"})
    first = httpx.post(f"{server.url}/v1/api_keys", json={"role": "viewer"}, headers=headers)
    second = httpx.post(f"{server.url}/v1/api_keys", json={"role": "viewer"}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert second.status_code == 201 and second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
