"""Retries on 429 and 503: a small local server answers from a script, so each test
says exactly which statuses and ``Retry-After`` values the client meets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cohortd.client import (
    AsyncClient,
    Client,
    ConflictError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)
from tests.fixtures.live import LiveServer, free_port

COHORT = {
    "id": "cohort_01J0000000000000000000000",
    "object": "cohort",
    "livemode": False,
    "name": "retried",
    "description": None,
    "definition": {},
    "member_count": 0,
    "as_of": "2025-06-15",
    "used_by_motions": [],
    "cohort_type": "custom",
    "grouping_field": None,
    "grouping_value": None,
    "created_at": "2025-06-15T10:00:00Z",
    "updated_at": "2025-06-15T10:00:00Z",
}


@dataclass
class Script:
    """Answers in order (status, Retry-After or None); the last one repeats."""

    answers: list[tuple[int, str | None]] = field(default_factory=list)
    hits: list[tuple[float, str | None]] = field(default_factory=list)

    def next(self, request: Request) -> tuple[int, str | None]:
        self.hits.append((time.monotonic(), request.headers.get("idempotency-key")))
        return self.answers[min(len(self.hits), len(self.answers)) - 1]


def _scripted_app(script: Script) -> FastAPI:
    app = FastAPI()

    def answer(request: Request, success: dict[str, object], status_ok: int) -> JSONResponse:
        status, retry_after = script.next(request)
        if status < 400:
            return JSONResponse(success, status_code=status_ok)
        # the Retry-After column of a 409 picks its detail: None = a duplicate still running
        detail = "busy"
        if status == 409:
            running = "A request with this Idempotency-Key is still running."
            detail, retry_after = (running if retry_after is None else "in use"), None
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        problem = {"type": "about:blank", "title": "busy", "status": status, "detail": detail}
        return JSONResponse(
            problem, status_code=status, headers=headers, media_type="application/problem+json"
        )

    @app.post("/v1/cohorts")
    async def create(request: Request) -> JSONResponse:
        return answer(request, COHORT, 201)

    @app.get("/healthz")
    async def health(request: Request) -> JSONResponse:
        return answer(request, {"status": "ok"}, 200)

    return app


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script()
    with LiveServer(_scripted_app(script), free_port()) as server:
        yield server.url, script


@pytest.fixture
def script(scripted: tuple[str, Script]) -> Script:
    _, found = scripted
    found.answers.clear()
    found.hits.clear()
    return found


@pytest.fixture
def url(scripted: tuple[str, Script]) -> str:
    return scripted[0]


def test_429_waits_retry_after_and_keeps_the_idempotency_key(url: str, script: Script) -> None:
    script.answers[:] = [(429, "1"), (201, None)]
    with Client(url, "rk_test_key") as client:
        cohort = client.cohorts.create(name="retried")
    assert cohort.name == "retried"
    (first, first_key), (second, second_key) = script.hits
    assert second - first >= 0.9  # Retry-After: 1 was honoured
    assert first_key is not None and first_key == second_key  # one key for every attempt


def test_503_backs_off_then_succeeds(url: str, script: Script) -> None:
    script.answers[:] = [(503, None), (503, None), (503, None), (200, None)]
    policy = RetryPolicy(max_retries=3, backoff=0.01)
    with Client(url, "rk_test_key", retry=policy) as client:
        assert client.health() == {"status": "ok"}
    assert len(script.hits) == 4


def test_a_duplicate_still_running_is_retried_until_it_replays(url: str, script: Script) -> None:
    script.answers[:] = [(409, None), (201, None)]
    with Client(url, "rk_test_key", retry=RetryPolicy(backoff=0.01)) as client:
        assert client.cohorts.create(name="retried", idempotency_key="dup").name == "retried"
    assert [key for _, key in script.hits] == ["dup", "dup"]


def test_other_conflicts_are_not_retried(url: str, script: Script) -> None:
    script.answers[:] = [(409, "other")]
    with (
        Client(url, "rk_test_key", retry=RetryPolicy(backoff=0.01)) as client,
        pytest.raises(ConflictError),
    ):
        client.cohorts.create(name="in use")
    assert len(script.hits) == 1


def test_retries_are_bounded(url: str, script: Script) -> None:
    script.answers[:] = [(503, None)]
    policy = RetryPolicy(max_retries=2, backoff=0.01)
    with (
        Client(url, "rk_test_key", retry=policy) as client,
        pytest.raises(ServiceUnavailableError) as caught,
    ):
        client.health()
    assert caught.value.status == 503 and len(script.hits) == 3  # 1 try + 2 retries


def test_a_wait_past_max_wait_raises_at_once(url: str, script: Script) -> None:
    script.answers[:] = [(429, "120")]
    with (
        Client(url, "rk_test_key", retry=RetryPolicy(max_wait=30)) as client,
        pytest.raises(RateLimitError) as caught,
    ):
        client.health()
    assert caught.value.retry_after == 120 and len(script.hits) == 1


def test_async_client_retries_too(url: str, script: Script) -> None:
    script.answers[:] = [(429, "0"), (503, None), (201, None)]

    async def create() -> str:
        async with AsyncClient(url, "rk_test_key", retry=RetryPolicy(backoff=0.01)) as client:
            return (await client.cohorts.create(name="retried", idempotency_key="given")).name

    assert asyncio.run(create()) == "retried"
    assert [key for _, key in script.hits] == ["given", "given", "given"]
