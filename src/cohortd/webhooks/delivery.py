"""The delivery loop: claim due deliveries with a lease, sign, send, record the outcome.

Any number of loops may run at once (the server's embedded one and ``cohortd worker``
processes): a delivery is claimed by one of them at a time, for ``webhook_lease_s``. A
loop killed mid-attempt (SIGKILL included) leaves its claims to lapse; another loop
then attempts them again, so every event reaches its receiver at least once (receivers
dedupe on the event id). Attempts are bounded in total and per destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import httpx
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cohortd.config import Settings
from cohortd.db import utcnow
from cohortd.events import envelope
from cohortd.events import service as events
from cohortd.ids import new_id
from cohortd.webhooks import repository
from cohortd.webhooks.models import Delivery, DeliveryStatus, Destination
from cohortd.webhooks.sender import AttemptResult, attempt
from cohortd.webhooks.service import signing_secrets
from cohortd.webhooks.signing import delivery_headers
from cohortd.webhooks.ssrf import Resolver, UnsafeUrl, check_url, parse_networks, system_resolver

log = logging.getLogger(__name__)
T = TypeVar("T")

FAILING_AFTER = timedelta(days=5)
MAX_RETRY_AFTER = 24 * 3600.0
_POLL_S = 0.2
_PURGE_EVERY_S = 3600.0
_RELAY_EVERY_S = 5.0
_RECORD_BATCH = 500
_RECORD_GATHER_S = 0.05  # how long outcomes are gathered into one recording
_DONE = object()  # tells the recording task to finish


@dataclass
class _Chores:
    relayed: float = float("-inf")
    purged: float = float("-inf")


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery with what its attempt needs, read at claim time."""

    delivery_id: str
    token: str
    destination_id: str
    event_id: str
    event_type: str
    livemode: bool
    url: str
    schema_version: str
    body: bytes
    secrets: list[str] | None  # None: the stored secret cannot be decrypted


@dataclass
class DeliveryLoop:
    """One process's delivery loop. ``relay`` (optional) is called each pass to move
    outbox events into the log (the server passes it; workers do not touch the warehouse)."""

    sessions: sessionmaker[Session]
    settings: Settings
    resolver: Resolver = system_resolver
    relay: Callable[[], object] | None = None
    transport: httpx.AsyncBaseTransport | None = None
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    attempts_made: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Claim, attempt and record until ``stop`` is set; outcomes are written in
        batches (one transaction for many attempts) by one recording task."""
        total = asyncio.Semaphore(self.settings.webhook_concurrency)
        per_destination: dict[str, asyncio.Semaphore] = {}
        inflight: set[asyncio.Task[None]] = set()
        outcomes: asyncio.Queue[tuple[Job, AttemptResult]] = asyncio.Queue()
        recording = asyncio.create_task(self._recorder(outcomes))
        chores = _Chores()
        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=self.settings.webhook_timeout_s,
            transport=self.transport,
            limits=httpx.Limits(max_connections=self.settings.webhook_concurrency),
        ) as client:
            while not stop.is_set():
                await self._chores(chores)
                room = self.settings.webhook_concurrency - len(inflight)
                # claim in batches: a claim is a write transaction of its own, so a few
                # large ones beat one per finished attempt (at least a quarter of the
                # room, or whatever is due when nothing is in flight)
                claiming = room > 0 and (not inflight or room >= self._claim_batch)
                jobs = await asyncio.to_thread(self.claim, room) if claiming else []
                for job in jobs:
                    gate = per_destination.setdefault(
                        job.destination_id,
                        asyncio.Semaphore(self.settings.webhook_concurrency_per_destination),
                    )
                    task = asyncio.create_task(self._deliver(client, job, total, gate, outcomes))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                if inflight and (jobs or not claiming):
                    # attempts are running: come back when one ends (or to poll)
                    await asyncio.wait(
                        inflight, timeout=_POLL_S, return_when=asyncio.FIRST_COMPLETED
                    )
                elif not jobs:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=_POLL_S)
            if inflight:
                await asyncio.wait(inflight, timeout=self.settings.webhook_timeout_s + 5)
        await outcomes.put(_DONE)  # type: ignore[arg-type]
        await recording

    async def _chores(self, chores: _Chores) -> None:
        """The relay every few seconds, the retention purge every hour."""
        now = asyncio.get_running_loop().time()
        if self.relay is not None and now - chores.relayed >= _RELAY_EVERY_S:
            chores.relayed = now
            await _quietly(asyncio.to_thread(self.relay), "relay")
        if now - chores.purged >= _PURGE_EVERY_S:
            chores.purged = now
            await _quietly(asyncio.to_thread(self.purge), "purge")

    @property
    def _claim_batch(self) -> int:
        return max(1, self.settings.webhook_concurrency // 4)

    async def _recorder(self, outcomes: asyncio.Queue[tuple[Job, AttemptResult]]) -> None:
        done = False
        while not done:
            batch = [await outcomes.get()]
            # gather what ends meanwhile (briefly): one write transaction for many
            gathering = asyncio.get_running_loop().time() + _RECORD_GATHER_S
            while len(batch) < _RECORD_BATCH and _DONE not in batch:
                left = gathering - asyncio.get_running_loop().time()
                if outcomes.empty() and left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(outcomes.get(), max(left, 0.001)))
                except TimeoutError:
                    break
            done = _DONE in batch
            batch = [item for item in batch if item is not _DONE]
            if batch:
                await _quietly(asyncio.to_thread(self.record_many, batch), "recording attempts")

    def purge(self) -> int:
        with self.sessions.begin() as session:
            return events.purge(session, retention_days=self.settings.events_retention_days)

    def claim(self, limit: int) -> list[Job]:
        """Claim up to ``limit`` due deliveries and read what their attempts need."""
        return _retrying(lambda: self._claim(limit))

    def _claim(self, limit: int) -> list[Job]:
        now = utcnow()
        token = f"{self.worker_id}-{uuid.uuid4().hex[:16]}"
        with self.sessions.begin() as session:
            claimed = repository.claim_due(
                session,
                now=now,
                lease_until=now + timedelta(seconds=self.settings.webhook_lease_s),
                token=token,
                limit=limit,
            )
            if not claimed:
                return []
            stored = repository.event_envelopes(session, [d.event_id for d in claimed])
            destinations = repository.destinations_by_id(
                session, list({d.destination_id for d in claimed})
            )
            secrets = {d.id: _secrets_or_none(d, self.settings, now) for d in destinations.values()}
            return [
                Job(
                    delivery_id=d.id,
                    token=token,
                    destination_id=d.destination_id,
                    event_id=d.event_id,
                    event_type=stored[d.event_id][0],
                    livemode=d.livemode,
                    url=destinations[d.destination_id].url,
                    schema_version=destinations[d.destination_id].schema_version,
                    body=envelope.body_for(
                        stored[d.event_id][1], destinations[d.destination_id].pii_mode
                    ),
                    secrets=secrets[d.destination_id],
                )
                for d in claimed
            ]

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        job: Job,
        total: asyncio.Semaphore,
        gate: asyncio.Semaphore,
        outcomes: asyncio.Queue[tuple[Job, AttemptResult]],
    ) -> None:
        async with total, gate:
            try:
                result = await self.attempt(client, job)
            except Exception as error:  # never lose the claim silently: record a failure
                result = AttemptResult(
                    False, None, 0, f"internal error ({type(error).__name__})", None
                )
            self.attempts_made += 1
            await outcomes.put((job, result))

    async def attempt(self, client: httpx.AsyncClient, job: Job) -> AttemptResult:
        """Check the URL again (resolving once), then send to the checked address."""
        try:
            target = await asyncio.to_thread(
                check_url,
                job.url,
                livemode=job.livemode,
                allow=parse_networks(self.settings.webhook_allow_networks),
                resolver=self.resolver,
            )
        except UnsafeUrl as error:
            return AttemptResult(False, None, 0, f"refused: {error}", None)
        if job.secrets is None:
            reason = "refused: the signing secret cannot be decrypted with COHORTD_SECRET_KEY"
            return AttemptResult(False, None, 0, reason, None)
        timestamp = int(utcnow().timestamp())
        headers = delivery_headers(
            job.secrets,
            event_id=job.event_id,
            event_type=job.event_type,
            schema_version=job.schema_version,
            timestamp=timestamp,
            body=job.body,
        )
        return await attempt(
            client, target, headers=headers, body=job.body, timeout=self.settings.webhook_timeout_s
        )

    def record_many(self, outcomes: list[tuple[Job, AttemptResult]]) -> None:
        """Write attempts' outcomes in one transaction, each only if this loop's claim
        still holds its delivery (else the lease lapsed and another loop took it)."""
        _retrying(lambda: self._record_many(outcomes))

    def _record_many(self, outcomes: list[tuple[Job, AttemptResult]]) -> None:
        now = utcnow()
        with self.sessions.begin() as session:
            gone: set[str] = set()
            for job, result in outcomes:
                delivery = repository.claimed(session, job.delivery_id, job.token)
                if delivery is None:
                    continue
                destination = session.get(Destination, delivery.destination_id)
                retry = apply_outcome(
                    delivery, destination, result, now=now, settings=self.settings
                )
                if retry is not None:
                    session.add(retry)
                if destination is not None and destination.disabled_reason == "gone":
                    gone.add(destination.id)
            session.flush()
            for destination_id in gone:
                repository.cancel_pending(session, destination_id, reason="destination gone (410)")


def apply_outcome(
    delivery: Delivery,
    destination: Destination | None,
    result: AttemptResult,
    *,
    now: datetime,
    settings: Settings,
    jitter: Callable[[], float] = lambda: random.uniform(0.9, 1.1),
) -> Delivery | None:
    """Record one attempt on its row (SPEC §7's retry and disabling rules) and return the
    next attempt's row, pending, when a retry follows (None when none does).

    Each row is one attempt: ``attempt`` is its number, ``status`` what it came to
    (``succeeded``, ``failed``), and a failed row's ``next_attempt_at`` says when the
    retry (the returned row) is due."""
    delivery.first_attempt_at = delivery.first_attempt_at or now
    delivery.last_attempt_at = now
    delivery.response_status = result.status
    delivery.duration_ms = result.duration_ms
    delivery.error = result.error
    delivery.response_body = result.body
    delivery.claim_token, delivery.claimed_until = None, None
    if result.succeeded:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.succeeded.value, None
        if destination is not None:
            destination.failing_since = None
        return None
    delivery.status = DeliveryStatus.failed.value
    if destination is not None:
        destination.failing_since = destination.failing_since or now
        if result.status == 410:
            destination.disabled, destination.disabled_reason = True, "gone"
        elif now - destination.failing_since >= FAILING_AFTER and not destination.disabled:
            destination.disabled, destination.disabled_reason = True, "failing"
    steps = settings.retry_steps
    wait = steps[min(delivery.attempt - 1, len(steps) - 1)] * jitter()
    if result.retry_after is not None and result.status in (429, 503):
        wait = max(wait, min(result.retry_after, MAX_RETRY_AFTER))
    window_ends = delivery.first_attempt_at + timedelta(hours=settings.webhook_retry_window_hours)
    next_at = now + timedelta(seconds=wait)
    if result.status == 410 or next_at > window_ends:
        delivery.next_attempt_at = None
        return None
    delivery.next_attempt_at = next_at
    return Delivery(
        id=new_id("dlv"),
        org_id=delivery.org_id,
        livemode=delivery.livemode,
        event_id=delivery.event_id,
        destination_id=delivery.destination_id,
        replay_id=delivery.replay_id,
        status=DeliveryStatus.pending.value,
        attempt=delivery.attempt + 1,
        next_attempt_at=next_at,
        first_attempt_at=delivery.first_attempt_at,
        created_at=now,
    )


def _secrets_or_none(
    destination: Destination, settings: Settings, now: datetime
) -> list[str] | None:
    """The destination's signing secrets, or None when the configured keys cannot decrypt
    them (a key rotated away): its attempts fail and retry, the loop goes on."""
    try:
        return signing_secrets(destination, settings, now)
    except RuntimeError:
        log.error("webhook loop: destination %s: signing secret not decryptable", destination.id)
        return None


def _retrying(work: Callable[[], T], tries: int = 10) -> T:
    """``work`` again after a lock conflict (SQLite answers "database is locked" when a
    reading transaction must become a writer while another process writes)."""
    for n in range(tries):
        try:
            return work()
        except OperationalError:
            if n == tries - 1:
                raise
            time.sleep(0.02 * (n + 1) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


async def _quietly(work: object, what: str) -> None:
    try:
        await work  # type: ignore[misc]
    except Exception as error:
        log.error("webhook loop: %s failed: %s", what, type(error).__name__)


class LoopThread:
    """The embedded loop in a daemon thread of the server (its own event loop)."""

    def __init__(self, loop: DeliveryLoop) -> None:
        self.loop = loop
        self._stop: asyncio.Event | None = None
        self._aio: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="cohortd-webhooks", daemon=True)

    def start(self) -> LoopThread:
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._aio = asyncio.get_running_loop()
            self._ready.set()
            await self.loop.run(self._stop)

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        if self._aio is not None and self._stop is not None:
            self._aio.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)
