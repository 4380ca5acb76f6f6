"""Live changes: create a subscriber, upsert a subscription row, apply an override.

Each write is one data-plane transaction: the writers of the data plane are serialized
first (``serialize_writers``: PostgreSQL's lock across processes; one process holds a
DuckDB file and the warehouse's own lock serializes it), then the customer's rows are
read, checked, written, and its derived rows refreshed (``engine.derived_live``), so
the very next report, cohort count, metric and snapshot sees the change. Anything
rejected raises before the commit: nothing is written. Rows are checked by the
import's own validation (``imports.validation.validate_record``).

Events: the same transaction writes the ``subscription.*`` events of the difference the
write made to the customer's MRR history into the warehouse's outbox, with the import's
own recorder and diff (``events.outbox.SubscriptionChanges`` over ``engine.changes``);
``publish`` then moves them into the event log (as the import does after its commit,
and the delivery loop does for anything left behind).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import ibis
import ibis.expr.types as ir
from sqlalchemy.orm import Session, sessionmaker

from cohortd.db import utcnow
from cohortd.engine.derived_live import refresh_customers
from cohortd.engine.membership import utc_today
from cohortd.engine.money import from_minor_units
from cohortd.errors import Conflict, FieldError, NotFound, ValidationFailed
from cohortd.events import outbox
from cohortd.ids import new_id
from cohortd.imports.columns import ImportKind
from cohortd.imports.validation import CheckedRecord, validate_record
from cohortd.subscribers import service as subscribers
from cohortd.subscribers.schemas import Subscriber, Subscription
from cohortd.subscriptions import repository
from cohortd.subscriptions.rules import (
    Override,
    OverrideKind,
    OverrideRejected,
    Rewrite,
    SubscriptionRow,
    apply_override,
    rewritten,
)
from cohortd.subscriptions.schemas import (
    ChangePlanBody,
    CustomerRows,
    PauseBody,
    SubscriberCreate,
    SubscriptionUpsert,
)
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import DERIVED_PENDING

log = logging.getLogger(__name__)

# An override's day must be a day of the MRR history anyone means: a year like 4672 is
# a typing slip, not a plan (the import keeps its own rows' dates as given).
MAX_YEARS_AHEAD: Final = 100


def create_subscriber(warehouse: Warehouse, scope: Scope, body: SubscriberCreate) -> Subscriber:
    """A new customer; 409 if its id exists in this mode."""
    given = body.model_dump(exclude_none=True)
    given.setdefault("created_at", datetime.now(UTC).replace(tzinfo=None).isoformat())
    values = _valid(validate_record(ImportKind.customers, given))
    with warehouse.transaction(scope):
        warehouse.serialize_writers(DERIVED_PENDING)
        if repository.customer_exists(warehouse, scope, values["id"]):
            raise Conflict(f"A subscriber '{values['id']}' exists already in this mode.")
        repository.insert_customer(warehouse, scope, values)
        refresh_customers(warehouse, scope, [values["id"]])
    return subscribers.get_subscriber(warehouse, scope, values["id"])


def upsert_subscription(
    warehouse: Warehouse, scope: Scope, body: SubscriptionUpsert, *, backfill_days: int = 35
) -> CustomerRows:
    """One subscription row, inserted or replaced on ``id``; its customer must exist."""
    values = _valid(validate_record(ImportKind.subscriptions, body.model_dump()))
    row = SubscriptionRow(**values)
    with warehouse.transaction(scope):
        warehouse.serialize_writers(DERIVED_PENDING)
        if not repository.customer_exists(warehouse, scope, row.customer_id):
            raise _invalid("customer_id", "unknown customer (not stored in this mode)")
        previous = repository.subscription(warehouse, scope, row.id)
        touched = sorted({row.customer_id} | ({previous.customer_id} if previous else set()))
        recorder = _recorder(warehouse, scope, backfill_days)
        recorder.before(_owners(touched))
        repository.write_rows(warehouse, scope, upserts=[row])
        refresh_customers(warehouse, scope, touched)
        recorder.after()
        after = repository.customer_rows(warehouse, scope, row.customer_id)
    return _answer(scope, row.customer_id, after)


def override(
    warehouse: Warehouse,
    scope: Scope,
    subscription_id: str,
    kind: OverrideKind,
    body: Any,
    *,
    backfill_days: int = 35,
) -> CustomerRows:
    """Apply one override to row ``subscription_id`` (SPEC §9); 404 if there is no such
    row in this mode, 422 naming the field if the change is impossible."""
    today = utc_today()
    day = _day("effective_date", body.effective_date) if body.effective_date else today
    if day > today + timedelta(days=365 * MAX_YEARS_AHEAD):
        raise _invalid("effective_date", f"more than {MAX_YEARS_AHEAD} years from today")
    asked = Override(kind, subscription_id, day)
    if isinstance(body, PauseBody) and body.resume_date is not None:
        asked = Override(
            kind, subscription_id, day, resume_date=_day("resume_date", body.resume_date)
        )
    with warehouse.transaction(scope):
        warehouse.serialize_writers(DERIVED_PENDING)
        target = repository.subscription(warehouse, scope, subscription_id)
        if target is None:
            raise NotFound(f"No subscription '{subscription_id}' in this mode.")
        if isinstance(body, ChangePlanBody):
            asked = _plan_change(asked, target, body)
        rows = repository.customer_rows(warehouse, scope, target.customer_id)
        try:
            rewrite = apply_override(rows, asked, lambda: new_id("sub"))
        except OverrideRejected as rejected:
            raise _invalid(rejected.field, rejected.reason, path=rejected.field == "id") from None
        _check_rows(rewrite)
        recorder = _recorder(warehouse, scope, backfill_days)
        recorder.before(_owners([target.customer_id]))
        repository.write_rows(warehouse, scope, upserts=rewrite.upserts, removed=rewrite.removed)
        refresh_customers(warehouse, scope, [target.customer_id])
        recorder.after()
        after = rewritten(rows, rewrite)
    return _answer(scope, target.customer_id, after)


def publish(sessions: sessionmaker[Session], warehouse: Warehouse, scope: Scope) -> None:
    """Move the scope's recorded events from the outbox into the event log (after the
    write's commit). A failure loses nothing: the delivery loop relays them later."""
    try:
        outbox.relay(sessions, warehouse, scope)
    except Exception as error:  # the write is committed; its events wait in the outbox
        log.error("relaying a write's events failed (retried later): %s", type(error).__name__)


def _recorder(warehouse: Warehouse, scope: Scope, backfill_days: int) -> outbox.SubscriptionChanges:
    """The import's recorder of ``subscription.*`` events, for one write."""
    now = utcnow()
    return outbox.SubscriptionChanges(
        warehouse,
        scope,
        source=new_id("write"),
        since=outbox.since_day(now, backfill_days),
        now=now,
    )


def _owners(customer_ids: Sequence[str]) -> ir.Table:
    return ibis.memtable({"customer_id": list(customer_ids)})


def _plan_change(asked: Override, target: SubscriptionRow, body: ChangePlanBody) -> Override:
    """The new row's plan, currency and MRR, checked as a subscription row would be."""
    record = {
        "id": target.id,
        "customer_id": target.customer_id,
        "plan_id": body.plan_id,
        "currency": body.currency or target.currency,
        "mrr": body.mrr,
        "start_date": asked.effective_date.isoformat(),
    }
    values = _valid(validate_record(ImportKind.subscriptions, record), fields=_PLAN_FIELDS)
    return Override(
        asked.kind,
        asked.target_id,
        asked.effective_date,
        plan_id=values["plan_id"],
        mrr_minor=values["mrr_minor"],
        currency=values["currency"],
    )


# a subscription row's columns as a change_plan body names them
_PLAN_FIELDS: Final = {"start_date": "effective_date", "mrr_minor": "mrr"}


def _check_rows(rewrite: Rewrite) -> None:
    """Every row an override writes passes the import's row validation."""
    for row in rewrite.upserts:
        record = {
            "id": row.id,
            "customer_id": row.customer_id,
            "plan_id": row.plan_id,
            "currency": row.currency,
            "mrr": str(from_minor_units(row.mrr_minor, row.currency)),
            "start_date": row.start_date.isoformat(),
            "end_date": row.end_date.isoformat() if row.end_date else None,
            "status": row.status,
        }
        _valid(
            validate_record(ImportKind.subscriptions, record),
            fields={"start_date": "effective_date", "end_date": "effective_date"},
        )


def _day(field: str, value: str) -> date:
    """A YYYY-MM-DD day, checked as the import checks a date cell."""
    record = {
        "id": "x",
        "customer_id": "x",
        "currency": "USD",
        "mrr": "0",
        "start_date": value,
    }
    checked = validate_record(ImportKind.subscriptions, record)
    day: date = _valid(checked, fields={"start_date": field})["start_date"]
    return day


def _valid(checked: CheckedRecord, *, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """The record's values, or a 422 naming each bad field (as the body names it)."""
    if checked.values is not None:
        return checked.values
    names = fields or {}
    errors = [
        FieldError(("body", names.get(p.column, p.column)), p.reason) for p in checked.problems
    ]
    named = ", ".join(str(e.loc[-1]) for e in errors)
    raise ValidationFailed(f"Invalid request: {named}.", errors=errors)


def _invalid(field: str, reason: str, *, path: bool = False) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid '{field}': {reason}.",
        errors=[FieldError(("path" if path else "body", field), reason)],
    )


def _answer(scope: Scope, customer_id: str, rows: Sequence[SubscriptionRow]) -> CustomerRows:
    return CustomerRows(
        livemode=scope.livemode,
        customer_id=customer_id,
        data=[
            Subscription(
                id=row.id,
                livemode=scope.livemode,
                customer_id=row.customer_id,
                plan_id=row.plan_id,
                currency=row.currency,
                mrr=str(from_minor_units(row.mrr_minor, row.currency)),
                start_date=row.start_date,
                end_date=row.end_date,
                status=row.status,
            )
            for row in sorted(rows, key=lambda r: (r.start_date, r.id))
        ],
    )
