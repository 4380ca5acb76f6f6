"""Live changes: create a subscriber, upsert a subscription row, apply an override.

A request's body is checked here, in the request's thread; the write itself goes to the
warehouse's live-write queue (``subscriptions.writer``), which applies the writes
waiting at one moment together, in one data-plane transaction: the writers of the data
plane are serialized first (``serialize_writers``: PostgreSQL's lock across processes;
one process holds a DuckDB file and the warehouse's own lock serializes it), then the
customers' rows are read, each write checked and applied, the rows written, and the
customers' derived rows refreshed (``engine.derived_live``), so the very next report,
cohort count, metric and snapshot sees the change. A rejected write raises before the
commit and writes nothing. Rows are checked by the import's own validation
(``imports.validation.validate_record``).

Events: the same transaction writes the ``subscription.*`` events of the difference the
write made to the customer's MRR history into the warehouse's outbox, with the import's
own recorder and diff (``events.outbox.SubscriptionChanges`` over ``engine.changes``);
``publish`` then moves them into the event log (as the import does after its commit,
and the delivery loop does for anything left behind).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from cohortd import clock
from cohortd.engine.derived_live import refresh_customers
from cohortd.engine.money import from_minor_units
from cohortd.errors import Conflict, FieldError, ValidationFailed
from cohortd.ids import new_id
from cohortd.imports.columns import ImportKind
from cohortd.imports.validation import CheckedRecord, validate_record, validate_records
from cohortd.subscribers import service as subscribers
from cohortd.subscribers.schemas import Subscriber, Subscription
from cohortd.subscriptions import repository, writer
from cohortd.subscriptions.rules import (
    Override,
    OverrideKind,
    OverrideRejected,
    Rewrite,
    SubscriptionRow,
    apply_override,
)
from cohortd.subscriptions.schemas import (
    ChangePlanBody,
    CustomerRows,
    PauseBody,
    SubscriberCreate,
    SubscriptionUpsert,
)
from cohortd.subscriptions.writer import Overriding, Upsert, Write, writer_of
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import DERIVED_PENDING

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
    warehouse: Warehouse,
    scope: Scope,
    body: SubscriptionUpsert,
    *,
    backfill_days: int = 35,
    sessions: sessionmaker[Session] | None = None,
) -> CustomerRows:
    """One subscription row, inserted or replaced on ``id``; its customer must exist.
    With ``sessions``, the write's events are relayed to the event log after its commit."""
    values = _valid(validate_record(ImportKind.subscriptions, body.model_dump()))
    write = Write(scope, Upsert(SubscriptionRow(**values)), backfill_days, sessions)
    customer_id, rows = writer_of(warehouse).submit(write)
    return _answer(scope, customer_id, rows)


def override(
    warehouse: Warehouse,
    scope: Scope,
    subscription_id: str,
    kind: OverrideKind,
    body: Any,
    *,
    backfill_days: int = 35,
    sessions: sessionmaker[Session] | None = None,
) -> CustomerRows:
    """Apply one override to row ``subscription_id`` (SPEC §9); 404 if there is no such
    row in this mode, 422 naming the field if the change is impossible. With
    ``sessions``, the write's events are relayed to the event log after its commit."""
    today = clock.today()
    day = _day("effective_date", body.effective_date) if body.effective_date else today
    if day > today + timedelta(days=365 * MAX_YEARS_AHEAD):
        raise _invalid("effective_date", f"more than {MAX_YEARS_AHEAD} years from today")
    asked = Override(kind, subscription_id, day)
    if isinstance(body, PauseBody) and body.resume_date is not None:
        asked = Override(
            kind, subscription_id, day, resume_date=_day("resume_date", body.resume_date)
        )

    def on_target(target: SubscriptionRow) -> Override:
        return _plan_change(asked, target, body) if isinstance(body, ChangePlanBody) else asked

    change = Overriding(subscription_id, on_target, _rewrite)
    customer_id, rows = writer_of(warehouse).submit(Write(scope, change, backfill_days, sessions))
    return _answer(scope, customer_id, rows)


def _rewrite(
    rows: list[SubscriptionRow], asked: Override
) -> tuple[list[SubscriptionRow], list[str]]:
    """The rows ``asked`` writes and the ids it removes, each row checked as the import
    checks one; 422 naming the field if the override is impossible."""
    try:
        rewrite = apply_override(rows, asked, lambda: new_id("sub"))
    except OverrideRejected as rejected:
        raise _invalid(rejected.field, rejected.reason, path=rejected.field == "id") from None
    _check_rows(rewrite)
    return list(rewrite.upserts), list(rewrite.removed)


def publish(sessions: sessionmaker[Session], warehouse: Warehouse, scope: Scope) -> None:
    """Move the scope's recorded events from the outbox into the event log (after the
    write's commit). A failure loses nothing: the delivery loop relays them later."""
    writer.publish(sessions, warehouse, scope)


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
    """Every row an override writes passes the import's row validation (all checked in
    one pass; the first bad row answers)."""
    records = [
        {
            "id": row.id,
            "customer_id": row.customer_id,
            "plan_id": row.plan_id,
            "currency": row.currency,
            "mrr": str(from_minor_units(row.mrr_minor, row.currency)),
            "start_date": row.start_date.isoformat(),
            "end_date": row.end_date.isoformat() if row.end_date else None,
            "status": row.status,
        }
        for row in rewrite.upserts
    ]
    for checked in validate_records(ImportKind.subscriptions, records):
        _valid(checked, fields={"start_date": "effective_date", "end_date": "effective_date"})


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
