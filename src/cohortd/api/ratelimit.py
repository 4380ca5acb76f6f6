"""Per-key rate limits: fixed one-minute windows, in process or shared through Redis."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until the window resets (0 when allowed)


class RateLimiter(Protocol):
    def hit(self, key_id: str) -> Decision: ...


class InProcessRateLimiter:
    """Counts in this process only (the default: one server process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key_id: str) -> Decision:
        now = self._clock()
        window = int(now // 60)
        with self._lock:
            current, count = self._windows.get(key_id, (window, 0))
            if current != window:
                count = 0
            count += 1
            self._windows[key_id] = (window, count)
        if count > self.per_minute:
            return Decision(False, max(1, math.ceil((window + 1) * 60 - now)))
        return Decision(True, 0)


class RedisRateLimiter:
    """Counts shared by every server process through Redis (``COHORTD_REDIS_URL``)."""

    def __init__(self, url: str, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.per_minute = per_minute
        self._clock = clock

    def hit(self, key_id: str) -> Decision:
        now = self._clock()
        window = int(now // 60)
        name = f"cohortd:rl:{key_id}:{window}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, 120)
        count = int(pipe.execute()[0])
        if count > self.per_minute:
            return Decision(False, max(1, math.ceil((window + 1) * 60 - now)))
        return Decision(True, 0)


def make_rate_limiter(per_minute: int, redis_url: str | None) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, per_minute)
    return InProcessRateLimiter(per_minute)
