"""Per-key rate limits: 429 with Retry-After, in process and shared through Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cohortd.api.ratelimit import InProcessRateLimiter, RedisRateLimiter
from cohortd.app import create_app
from tests.conftest import REDIS_URL, require_service
from tests.fixtures.api import make_settings, new_org


def test_in_process_window_counts_and_resets() -> None:
    now = [120.0]  # the start of a window
    limiter = InProcessRateLimiter(3, clock=lambda: now[0])
    assert [limiter.hit("k").allowed for _ in range(3)] == [True, True, True]
    denied = limiter.hit("k")
    assert not denied.allowed and denied.retry_after == 60
    assert limiter.hit("other").allowed  # per key
    now[0] = 170.5
    assert limiter.hit("k").retry_after == 10  # ceil(180 - 170.5)
    now[0] = 180.0
    assert limiter.hit("k").allowed


def test_http_answers_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, rate_limit_per_minute=2), configure_logs=False)
    with TestClient(app) as client:
        org = new_org(app)
        codes = [client.get("/v1/api_keys", headers=org.headers()).status_code for _ in range(3)]
        assert codes[:2] == [200, 200]
        limited = client.get("/v1/api_keys", headers=org.headers())
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["content-type"] == "application/problem+json"


@pytest.mark.redis
def test_redis_limiter_is_shared_between_instances() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as error:
        require_service("Redis", error)
    key = f"key_{uuid.uuid4().hex}"
    first = RedisRateLimiter(REDIS_URL, 3, clock=lambda: 600.0)
    second = RedisRateLimiter(REDIS_URL, 3, clock=lambda: 600.0)  # another process's view
    assert first.hit(key).allowed and second.hit(key).allowed and first.hit(key).allowed
    denied = second.hit(key)
    assert not denied.allowed and denied.retry_after == 60
