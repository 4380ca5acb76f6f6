"""Subscription events of an import, and the relay that moves them to the event log.

The data plane (DuckDB / PostgreSQL) and the control plane (SQLite / PostgreSQL) are two
databases, so one transaction cannot span both. An import's subscription events are
therefore written *with its data*: ``SubscriptionChanges`` runs inside the merge's
data-plane transaction, diffs each changed customer's MRR history before and after
(``engine.changes``) and inserts the new change points as rows of the warehouse's
``event_outbox``, ids fixed there. The data and its events commit together or not at all.

``relay`` then copies outbox rows into the control plane's event log (with their
deliveries) and, only after that commit, deletes them from the outbox. A crash in between
leaves rows in both places; the next relay (after the import, on every start, and on
each pass of the delivery loop) skips ids already recorded and deletes them: nothing is
lost and nothing is recorded twice.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cohortd import clock
from cohortd.engine import changes
from cohortd.engine.fx import RateBook
from cohortd.engine.money import exponent, round_half_away
from cohortd.events import envelope
from cohortd.events.service import EventDraft, record_many
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, EVENT_OUTBOX, SCHEMAS, SUBSCRIPTIONS

log = logging.getLogger(__name__)

_RELAY_CHUNK = 5_000
_FORGET_BY_VALUE = 500  # relayed ids deleted by value up to this many, else by a temp table
_RELAY_CONFLICTS = 3  # conflicts past which one relay gives up (the next one goes on)


@dataclass
class SubscriptionChanges:
    """A ``warehouse.staging.ChangeRecorder`` writing ``subscription.*`` events of one
    import into the outbox (change points older than ``since`` make none)."""

    warehouse: Warehouse
    scope: Scope
    source: str
    backfill_days: int  # change points more days than this before today make no event
    now: datetime
    today: date = field(default_factory=clock.today)  # one day for the whole change
    recorded: int = 0
    _owners: list[ir.Table] = field(default_factory=list)
    _before: dict[str, list[changes.MrrRow]] = field(default_factory=dict)

    @property
    def since(self) -> date:
        """The oldest change day that still makes an event."""
        return self.today - timedelta(days=self.backfill_days)

    def before(self, owners: ir.Table) -> None:
        self._owners.append(owners)
        for customer, rows in _rows_by_customer(self.warehouse, self.scope, owners).items():
            self._before.setdefault(customer, []).extend(rows)

    def after(self) -> None:
        if not self._owners:
            return
        owners = self._owners[0]
        for more in self._owners[1:]:
            owners = owners.union(more)
        after = _rows_by_customer(self.warehouse, self.scope, owners)
        self._record(after, _customers(self.warehouse, self.scope, owners))

    def before_rows(self, rows: dict[str, list[changes.MrrRow]]) -> None:
        """Live writes: a few customers' rows before the change, as the caller read them."""
        for customer, stored in rows.items():
            self._before.setdefault(customer, []).extend(stored)

    def after_rows(self, rows: dict[str, list[changes.MrrRow]], customers: pa.Table) -> None:
        """Live writes: the same customers' rows after the change and their rows of
        ``customers``, as the caller wrote them (nothing is read again)."""
        self._record(rows, _people(customers))

    def _record(
        self, after: dict[str, list[changes.MrrRow]], people: dict[str, dict[str, Any]]
    ) -> None:
        drafts = self._drafts(after, people)
        if drafts:
            self.warehouse.insert_arrow(EVENT_OUTBOX, self._outbox_rows(drafts))
        self.recorded = len(drafts)

    def _drafts(
        self, after: dict[str, list[changes.MrrRow]], people: dict[str, dict[str, Any]]
    ) -> list[EventDraft]:
        today = self.today
        currencies = {
            c: changes.event_currency(after.get(c) or self._before.get(c, []), p.get("currency"))
            for c, p in people.items()
        }
        convert = self._converter(after, currencies)
        drafts: list[EventDraft] = []
        for customer, person in people.items():
            currency = currencies[customer]
            if currency is None:
                continue
            rows = after.get(customer, [])
            points = changes.new_change_points(
                self._before.get(customer, []),
                rows,
                currency=currency,
                convert=convert(currency),
                since=self.since,
            )
            if not points:
                continue
            now_state = changes.state_on(rows, today, currency=currency, convert=convert(currency))
            subscription = {
                "status": now_state.status,
                "plan_id": now_state.plan_id,
                "mrr": now_state.mrr,
                "currency": currency,
            }
            drafts += [
                EventDraft(
                    type=point.kind.value,
                    data=point_data(point),
                    subscriber=person["subscriber"],
                    subscription=subscription,
                    created_at=self.now,
                    identity=(
                        self.scope.org_id,
                        str(self.scope.livemode),
                        customer,
                        self.source,
                        point.kind.value,
                        point.day.isoformat(),
                        str(point.previous_mrr),
                    ),
                )
                for point in points
            ]
        return drafts

    def _converter(
        self, after: dict[str, list[changes.MrrRow]], currencies: dict[str, str | None]
    ) -> Any:
        pairs: set[tuple[str, date]] = set()
        today = self.today  # an event's ``subscription`` block is today's state
        for customer, currency in currencies.items():
            if currency is not None:
                rows = after.get(customer, []) + self._before.get(customer, [])
                pairs |= changes.conversion_days(rows, currency, also=(today,))
        book = RateBook.load(self.warehouse, self.scope, pairs) if pairs else None

        def for_currency(target: str) -> changes.Converter | None:
            if book is None:
                return None

            def convert(minor: int, source: str, day: date) -> int:
                major = Decimal(minor) * book.minor_factor(source, target, day)
                return int(round_half_away(major.scaleb(exponent(target)), Decimal(1)))

            return convert

        return for_currency

    def _outbox_rows(self, drafts: list[EventDraft]) -> pa.Table:
        created = self.now.astimezone(UTC).replace(tzinfo=None)
        return pa.table(
            {
                "org_id": [self.scope.org_id] * len(drafts),
                "livemode": [self.scope.livemode] * len(drafts),
                "id": [d.id for d in drafts],
                "source": [self.source] * len(drafts),
                "type": [d.type for d in drafts],
                "created_at": pa.array([created] * len(drafts), pa.timestamp("us")),
                "payload": [
                    envelope.dumps(
                        {"subscriber": d.subscriber, "subscription": d.subscription, "data": d.data}
                    )
                    for d in drafts
                ],
            },
            schema=SCHEMAS[EVENT_OUTBOX].to_pyarrow(),
        )


def point_data(point: changes.ChangePoint) -> dict[str, Any]:
    """The ``data`` of a change point's event (SPEC §7; amounts in minor units)."""
    day = point.day.isoformat()
    match point.kind:
        case changes.ChangeKind.activated:
            return {
                "effective_date": day,
                "first_payment_amount": point.mrr,
                "first_payment_currency": point.currency,
                "plan_id": point.plan_id,
            }
        case changes.ChangeKind.cancelled:
            return {
                "effective_date": day,
                "previous_mrr": point.previous_mrr,
                "currency": point.currency,
                "status": point.status,
            }
        case _:
            return {
                "effective_date": day,
                "previous_mrr": point.previous_mrr,
                "mrr": point.mrr,
                "currency": point.currency,
                "previous_plan_id": point.previous_plan_id,
                "plan_id": point.plan_id,
            }


def _rows_by_customer(
    warehouse: Warehouse, scope: Scope, owners: ir.Table
) -> dict[str, list[changes.MrrRow]]:
    subs = scoped(warehouse, SUBSCRIPTIONS, scope)
    ids = owners.select(owner_id=owners.customer_id).distinct()
    picked = subs.semi_join(ids, subs.customer_id == ids.owner_id).select(
        "id", "customer_id", "plan_id", "currency", "mrr_minor", "start_date", "end_date", "status"
    )
    return _mrr_rows(warehouse.to_pyarrow(picked).to_pylist())


def _mrr_rows(records: list[dict[str, Any]]) -> dict[str, list[changes.MrrRow]]:
    """Subscription rows by customer, as ``engine.changes`` reads them."""
    by_customer: dict[str, list[changes.MrrRow]] = defaultdict(list)
    for row in records:
        by_customer[row["customer_id"]].append(
            changes.MrrRow(
                id=row["id"],
                plan_id=row["plan_id"],
                currency=row["currency"],
                mrr_minor=int(row["mrr_minor"]),
                start_date=row["start_date"],
                end_date=row["end_date"],
                status=row["status"],
            )
        )
    return by_customer


def _customers(warehouse: Warehouse, scope: Scope, owners: ir.Table) -> dict[str, dict[str, Any]]:
    people = scoped(warehouse, CUSTOMERS, scope)
    ids = owners.select(owner_id=owners.customer_id).distinct()
    picked = people.semi_join(ids, people.id == ids.owner_id).select(
        "id", "email", "email_hashed", "created_at", "currency"
    )
    return _people(warehouse.to_pyarrow(picked))


def _people(rows: pa.Table) -> dict[str, dict[str, Any]]:
    """Customers by id: their billing currency and the event's ``subscriber`` block."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows.select(["id", "email", "email_hashed", "created_at", "currency"]).to_pylist():
        created = row["created_at"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        found[row["id"]] = {
            "currency": row["currency"],
            "subscriber": {
                "id": row["id"],
                "email": row["email"],
                "email_hashed": row["email_hashed"],
                "created_at": envelope.timestamp(created),
            },
        }
    return found


_RELAYING = threading.Lock()


def relay(sessions: sessionmaker[Session], warehouse: Warehouse, scope: Scope | None = None) -> int:
    """Copy outbox rows (of ``scope``, or all) into the event log, then delete them from
    the outbox. Returns how many rows were moved.

    One relay at a time per process (the import's and the delivery loop's take turns).
    Relays of two processes (a CLI import beside a server) may read the same rows: the
    slower one's insert meets the faster one's events (a unique-key conflict on
    PostgreSQL, "database is locked" on SQLite), rolls back and reads the outbox again,
    where the faster one has left nothing or rows it now finds recorded (events are
    recorded by id once)."""
    with _RELAYING:
        moved, conflicts = 0, 0
        while True:
            chunk = warehouse.first_rows(EVENT_OUTBOX, scope, "id", _RELAY_CHUNK).to_pylist()
            if not chunk:
                return moved
            by_scope: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
            for row in chunk:
                by_scope[(row["org_id"], row["livemode"])].append(row)
            for (org_id, livemode), rows in by_scope.items():
                try:
                    with sessions.begin() as session:
                        record_many(
                            session,
                            org_id=org_id,
                            livemode=livemode,
                            drafts=[_draft(r) for r in rows],
                        )
                except (IntegrityError, OperationalError):
                    conflicts += 1
                    if conflicts > _RELAY_CONFLICTS:
                        raise
                    break  # another process recorded them meanwhile: read the outbox again
                _forget(warehouse, Scope(org_id, livemode), [r["id"] for r in rows])
                moved += len(rows)


def _draft(row: dict[str, Any]) -> EventDraft:
    payload = json.loads(row["payload"])
    created = row["created_at"]
    return EventDraft(
        type=row["type"],
        data=payload["data"],
        subscriber=payload["subscriber"],
        subscription=payload["subscription"],
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
        event_id=row["id"],
    )


def _forget(warehouse: Warehouse, scope: Scope, ids: list[str]) -> None:
    if len(ids) <= _FORGET_BY_VALUE:  # a live write's few: the ids in the statement
        warehouse.delete_keys(EVENT_OUTBOX, scope, ("id",), [{"id": i} for i in ids])
        return
    name = f"_cohortd_relayed_{uuid.uuid4().hex[:12]}"
    warehouse.put_temp_table(name, pa.table({"id": pa.array(ids, pa.string())}))
    try:
        warehouse.delete_matching(EVENT_OUTBOX, scope, ("id",), warehouse.temp_table(name))
    finally:
        warehouse.drop_temp_table(name)
