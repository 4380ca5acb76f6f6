"""Group commit of live writes: the upserts and overrides waiting at one moment, of one
organization and mode, applied in one data-plane transaction.

Every live write takes the warehouse's writer (one transaction at a time), and most of
a write's cost does not depend on how many customers it touches: the reads, the
derivation of the customers' derived rows, the ``cohort_deltas`` adjustment, the events'
diff, the commit and the relay each cost about the same for eight customers as for one.
So the writes of concurrent requests queue here, and one thread per warehouse applies
everything queued as a batch:

1. the target rows and the customers' rows are read once, for all writes;
2. the writes are applied in order to those rows in memory, each checked on its own (a
   rejected write answers its 404/422 and leaves the others be);
3. the accepted rewrites are written, the customers' derived rows refreshed and their
   events recorded (``engine.derived_live``, ``events.outbox``) in the same
   transaction, which commits; the events are then relayed to the event log.

A batch holds at most one write per customer: a second write to a customer already
touched (or to a row the batch creates) waits for the next batch, so it sees the first
write's rows and makes the events of its own difference, exactly as one write after
the other would. A batch that fails as a whole (a database error, not a rejected
write) is retried one write at a time, so one write's failure is its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session, sessionmaker

from cohortd.db import utcnow
from cohortd.engine.changes import MrrRow
from cohortd.engine.derived_live import refresh_customers
from cohortd.errors import AppError, FieldError, NotFound, ValidationFailed
from cohortd.events import outbox
from cohortd.ids import new_id
from cohortd.subscriptions import repository
from cohortd.subscriptions.rules import Override, SubscriptionRow
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import DERIVED_PENDING

log = logging.getLogger(__name__)

MAX_BATCH: Final = 64  # writes applied in one transaction at most
# Once a write waits, the writer lingers while more keep coming (each within
# _GATHER_GAP of the last, _GATHER_MAX in all): clients answered by the last batch are
# sending their next writes, and one batch of eight costs about what a batch of one does.
_GATHER_GAP: Final = 0.010
_GATHER_MAX: Final = 0.025
_IDLE_SECONDS: Final = 1.0  # a writer thread with nothing to do for this long stops


@dataclass(frozen=True)
class Upsert:
    """``POST /v1/subscriptions``: one row, inserted or replaced on its id."""

    row: SubscriptionRow


@dataclass(frozen=True)
class Overriding:
    """An override of row ``target_id``; ``asked`` builds the override from the stored
    target row (a plan change takes its currency from it) and may raise a 422; ``apply``
    turns the customer's rows into the override's rewrite (the service's rules and
    checks; it raises the write's own 422)."""

    target_id: str
    asked: Callable[[SubscriptionRow], Override]
    apply: Callable[[list[SubscriptionRow], Override], tuple[list[SubscriptionRow], list[str]]]


Change = Upsert | Overriding


@dataclass(eq=False)  # a write is itself: compared (and removed from the queue) by identity
class Write:
    """One request's write, waiting for its batch: ``customer_id`` and ``rows`` (the
    customer's rows after it) once done, or ``error``."""

    scope: Scope
    change: Change
    backfill_days: int
    sessions: sessionmaker[Session] | None
    done: threading.Event = field(default_factory=threading.Event)
    customer_id: str | None = None
    rows: list[SubscriptionRow] = field(default_factory=list)
    error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class _Deferred(Exception):
    """The write touches a customer the batch already changed: it waits for the next."""


class _NothingWritten(Exception):
    """Every write of the batch was rejected or deferred: roll the transaction back."""


class Writer:
    """The queue of one warehouse's live writes and the thread that applies them."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._queue: deque[Write] = deque()
        self._cond = threading.Condition()
        self._running = False
        self.batches = 0  # transactions committed or tried (tests and benchmarks read it)
        self.writes = 0  # writes taken into those batches

    def submit(self, write: Write) -> tuple[str, list[SubscriptionRow]]:
        """Queue ``write``, wait for its batch, and return its customer and rows (or
        raise its error)."""
        with self._cond:
            self._queue.append(write)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="cohortd-live-writes", daemon=True).start()
            self._cond.notify()
        write.done.wait()
        if write.error is not None:
            raise write.error
        assert write.customer_id is not None
        return write.customer_id, write.rows

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as error:  # never leave writers waiting on a dead thread
            with self._cond:
                self._running = False
                waiting, self._queue = list(self._queue), deque()
            for write in waiting:
                write.fail(error)
            raise

    def _serve(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(_IDLE_SECONDS)
                if not self._queue:
                    self._running = False
                    return
                self._gather()
                scope = self._queue[0].scope
                batch = [w for w in self._queue if w.scope == scope][:MAX_BATCH]
                for write in batch:
                    self._queue.remove(write)
            deferred = self._apply(batch)
            with self._cond:
                self._queue.extendleft(reversed(deferred))

    def _gather(self) -> None:
        """Wait (holding the condition) while writes keep arriving, briefly."""
        deadline = time.monotonic() + _GATHER_MAX
        seen = len(self._queue)
        while seen < MAX_BATCH and time.monotonic() < deadline:
            self._cond.wait(_GATHER_GAP)
            if len(self._queue) == seen:
                return
            seen = len(self._queue)

    def _apply(self, batch: list[Write]) -> list[Write]:
        """Apply ``batch`` (one scope); the writes it defers are returned."""
        self.batches += 1
        self.writes += len(batch)
        try:
            deferred = _apply_batch(self.warehouse, batch)
        except BaseException as error:
            if len(batch) == 1:
                batch[0].fail(error)
                return []
            log.warning("a batch of %d live writes failed; applying them one by one", len(batch))
            deferred = []
            for write in batch:
                if not write.done.is_set():  # a write the batch rejected stays rejected
                    deferred += self._apply([write])
            return deferred
        done = [w for w in batch if not w.done.is_set() and w not in deferred]
        sessions = next((w.sessions for w in done if w.sessions is not None), None)
        if done and sessions is not None:
            publish(sessions, self.warehouse, batch[0].scope)
        for write in done:
            write.done.set()
        return deferred


def _apply_batch(warehouse: Warehouse, batch: list[Write]) -> list[Write]:
    """One transaction: the accepted writes of ``batch`` written with their derived rows
    and events; rejected ones failed; the deferred ones returned."""
    scope = batch[0].scope
    deferred: list[Write] = []
    try:
        with warehouse.transaction(scope):
            warehouse.serialize_writers(DERIVED_PENDING)
            state = _State.read(warehouse, scope, batch)
            accepted: list[Write] = []
            for write in batch:
                try:
                    state.apply(write)
                except _Deferred:
                    deferred.append(write)
                except AppError as error:
                    write.fail(error)
                else:
                    accepted.append(write)
            if not accepted:
                raise _NothingWritten
            now = utcnow()
            recorder = outbox.SubscriptionChanges(
                warehouse,
                scope,
                source=new_id("write"),
                backfill_days=min(w.backfill_days for w in accepted),
                now=now,
            )
            recorder.before_rows(state.mrr_rows(state.original))
            repository.write_rows(warehouse, scope, upserts=state.upserts, removed=state.removed)
            touched = sorted(state.touched)
            rows = [row for customer in touched for row in state.rows[customer]]
            people = state.customers.filter(pc.is_in(state.customers["id"], pa.array(touched)))
            refresh_customers(
                warehouse,
                scope,
                touched,
                customers=people,
                subscriptions=repository.as_table(scope, rows),
            )
            recorder.after_rows(state.mrr_rows(state.rows), people)
    except _NothingWritten:
        pass
    return deferred


class _State:
    """The batch's customers' rows, changed in memory write by write."""

    def __init__(
        self,
        stored: dict[str, SubscriptionRow],
        customers: pa.Table,
        rows: dict[str, list[SubscriptionRow]],
    ) -> None:
        self.stored = stored  # the rows the writes name, as stored at the batch's start
        self.customers = customers  # the customers' rows (of those that exist)
        self.existing = set(customers.column("id").to_pylist())
        self.rows = rows  # customer -> rows, current
        self.original = {customer: list(found) for customer, found in rows.items()}
        self.touched: set[str] = set()
        self.created: set[str] = set()  # row ids the batch writes
        self.upserts: list[SubscriptionRow] = []
        self.removed: list[str] = []

    @classmethod
    def read(cls, warehouse: Warehouse, scope: Scope, batch: Iterable[Write]) -> _State:
        named: set[str] = set()
        owners: set[str] = set()
        for write in batch:
            match write.change:
                case Upsert(row=row):
                    named.add(row.id)
                    owners.add(row.customer_id)
                case Overriding(target_id=target_id):
                    named.add(target_id)
        stored = repository.subscriptions(warehouse, scope, named)
        targets = {row.customer_id for row in stored.values()}
        customers = repository.customers(warehouse, scope, owners | targets)
        existing = set(customers.column("id").to_pylist())
        rows = repository.rows_by_customer(warehouse, scope, (owners & existing) | targets)
        return cls(stored, customers, rows)

    def apply(self, write: Write) -> None:
        """Apply one write to the rows in memory, or raise its error or ``_Deferred``."""
        match write.change:
            case Upsert(row=row):
                if row.customer_id not in self.existing:
                    raise _unknown_customer()
                previous = self.stored.get(row.id)
                customers = {row.customer_id} | ({previous.customer_id} if previous else set())
                self._claim(customers, row.id)
                for customer in customers:
                    self.rows[customer] = [r for r in self.rows[customer] if r.id != row.id]
                self.rows[row.customer_id].append(row)
                upserts, removed = [row], list[str]()
                customer = row.customer_id
            case Overriding(target_id=target_id, asked=asked, apply=apply):
                target = self.stored.get(target_id)
                if target is None and target_id in self.created:
                    raise _Deferred
                if target is None:
                    raise _not_found(target_id)
                customer = target.customer_id
                self._claim({customer}, target_id)
                override = asked(target)
                upserts, removed = apply(self.rows[customer], override)
                gone = set(removed) | {r.id for r in upserts}
                self.rows[customer] = [r for r in self.rows[customer] if r.id not in gone]
                self.rows[customer] += upserts
        self.rows[customer].sort(key=lambda r: (r.start_date, r.id))
        self.upserts += upserts
        self.removed += removed
        self.created |= {r.id for r in upserts}
        write.customer_id, write.rows = customer, list(self.rows[customer])

    def _claim(self, customers: set[str], row_id: str) -> None:
        """Mark ``customers`` touched, or defer a write to one already touched (or to a
        row the batch creates)."""
        if customers & self.touched or row_id in self.created:
            raise _Deferred
        self.touched |= customers

    def mrr_rows(self, rows: dict[str, list[SubscriptionRow]]) -> dict[str, list[MrrRow]]:
        """The touched customers' ``rows`` as the events' diff reads them."""
        return {
            customer: [MrrRow(**{name: getattr(r, name) for name in _MRR_FIELDS}) for r in found]
            for customer in self.touched
            for found in [rows.get(customer, [])]
        }


_MRR_FIELDS: Final = tuple(f.name for f in fields(MrrRow))


def _unknown_customer() -> AppError:
    reason = "unknown customer (not stored in this mode)"
    return ValidationFailed(
        f"Invalid 'customer_id': {reason}.", errors=[FieldError(("body", "customer_id"), reason)]
    )


def _not_found(subscription_id: str) -> AppError:
    return NotFound(f"No subscription '{subscription_id}' in this mode.")


def publish(sessions: sessionmaker[Session], warehouse: Warehouse, scope: Scope) -> None:
    """Move the scope's recorded events from the outbox into the event log (after the
    write's commit). A failure loses nothing: the delivery loop relays them later."""
    try:
        outbox.relay(sessions, warehouse, scope)
    except Exception as error:  # the write is committed; its events wait in the outbox
        log.error("relaying a write's events failed (retried later): %s", type(error).__name__)


_WRITERS_LOCK = threading.Lock()


def writer_of(warehouse: Warehouse) -> Writer:
    """The live-write queue of ``warehouse`` (one per warehouse object, kept on it)."""
    with _WRITERS_LOCK:
        found: Writer | None = getattr(warehouse, "_live_writer", None)
        if found is None:
            found = Writer(warehouse)
            warehouse._live_writer = found  # type: ignore[attr-defined]
        return found
