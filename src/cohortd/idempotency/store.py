"""Idempotency-Key storage (SPEC §5): a unique row per (org, mode, key) in the control plane.

The row is inserted as ``running`` before the request runs (its unique constraint lets
exactly one of any number of concurrent duplicates through, across processes), then
completed with the response, or deleted when the request failed validation or crashed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cohortd.db import utcnow
from cohortd.idempotency.models import IdempotencyRecord

# A request that holds a key longer than this is presumed dead (its process crashed).
RUNNING_LEASE = timedelta(minutes=10)


class Verdict(StrEnum):
    proceed = "proceed"
    replay = "replay"
    running = "running"
    mismatch = "mismatch"


@dataclass(frozen=True, slots=True)
class Claim:
    verdict: Verdict
    record_id: int | None = None
    status: int | None = None
    headers: list[tuple[str, str]] | None = None
    body: bytes | None = None


class IdempotencyStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ttl: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.clock = clock

    def claim(self, *, org_id: str, livemode: bool, key: str, fingerprint: str) -> Claim:
        for _attempt in range(5):
            now = self.clock()
            with self.sessions() as session:
                existing = session.scalars(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.org_id == org_id,
                        IdempotencyRecord.livemode == livemode,
                        IdempotencyRecord.key == key,
                    )
                ).first()
                if existing is not None:
                    stale = existing.expires_at <= now or (
                        existing.state == "running" and existing.locked_until <= now
                    )
                    if not stale:
                        return _verdict_for(existing, fingerprint)
                    session.delete(existing)
                    session.commit()
                    continue
                record = IdempotencyRecord(
                    org_id=org_id,
                    livemode=livemode,
                    key=key,
                    fingerprint=fingerprint,
                    state="running",
                    created_at=now,
                    locked_until=now + RUNNING_LEASE,
                    expires_at=now + self.ttl,
                )
                session.add(record)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return Claim(Verdict.proceed, record_id=record.id)
        return Claim(Verdict.running)

    def complete(
        self, record_id: int, *, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        with self.sessions() as session:
            record = session.get(IdempotencyRecord, record_id)
            if record is None:
                return
            record.state = "done"
            record.response_status = status
            record.response_headers = json.dumps(headers)
            record.response_body = body
            session.commit()

    def release(self, record_id: int) -> None:
        """Forget a claim whose request must not be stored (validation failure, crash)."""
        with self.sessions() as session:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
            session.commit()

    def purge_expired(self) -> int:
        with self.sessions() as session:
            result = session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= self.clock())
            )
            session.commit()
            return int(getattr(result, "rowcount", 0) or 0)


def _verdict_for(record: IdempotencyRecord, fingerprint: str) -> Claim:
    if record.fingerprint != fingerprint:
        return Claim(Verdict.mismatch)
    if record.state != "done":
        return Claim(Verdict.running)
    headers = [tuple(pair) for pair in json.loads(record.response_headers or "[]")]
    return Claim(
        Verdict.replay,
        status=record.response_status,
        headers=headers,
        body=record.response_body or b"",
    )


def expires_after(hours: int) -> timedelta:
    return timedelta(hours=hours)


__all__ = ["Claim", "IdempotencyStore", "Verdict", "datetime", "expires_after"]
