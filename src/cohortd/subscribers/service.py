"""Subscriber rules: a customer as of today, its MRR in its billing currency, its edits.

Lists page the customers table by id first, then derive state and MRR for that page's
ids only, so a page costs three small queries whatever the data size.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import ibis.expr.types as ir

from cohortd.api.paging import Page, PageParams, paginate_table
from cohortd.engine import fx
from cohortd.engine.customer_state import CustomerStatus, customer_state, mrr_by_currency
from cohortd.engine.facts import billing_currency
from cohortd.engine.membership import CohortDefinition, members, utc_today
from cohortd.engine.money import exponent, from_minor_units, round_half_away
from cohortd.errors import InvalidParameter, NotFound
from cohortd.subscribers import repository
from cohortd.subscribers.schemas import Subscriber, SubscriberUpdate, Subscription
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, SUBSCRIPTIONS


@dataclass(frozen=True, slots=True)
class SubscriberFilters:
    """``GET /v1/subscribers`` filters; each is one whole value, matched case-insensitively."""

    status: str | None = None
    plan_id: str | None = None
    tag: str | None = None
    country: str | None = None

    def to_definition(self) -> CohortDefinition:
        """The same rules as a cohort definition evaluated today."""
        if self.status is not None and self.status.lower() not in set(CustomerStatus):
            raise InvalidParameter("status", f"must be one of {', '.join(CustomerStatus)}")
        return CohortDefinition(
            status=_one(self.status),
            plan_ids=_one(self.plan_id),
            tags_include=_one(self.tag),
            countries=_one(self.country),
        )


def _one(value: str | None) -> tuple[str, ...]:
    return () if value is None else (value,)


def list_subscribers(
    warehouse: Warehouse, scope: Scope, page: PageParams, *, filters: SubscriberFilters
) -> Page[Subscriber]:
    """A page of the customers passing ``filters`` today."""
    today = utc_today()
    universe = members(warehouse, scope, filters.to_definition(), today, today=today)
    return page_of_members(warehouse, scope, universe, page, today=today)


def page_of_members(
    warehouse: Warehouse, scope: Scope, universe: ir.Table, page: PageParams, *, today: date
) -> Page[Subscriber]:
    """A page (by id) of the customers whose id is in ``universe.customer_id``."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    in_universe = customers.semi_join(universe, customers.id == universe.customer_id)
    found = paginate_table(warehouse, in_universe, page)
    items = _subscribers(warehouse, scope, found.items, today=today)
    return Page(items=items, has_more=found.has_more, next_cursor=found.next_cursor)


def get_subscriber(warehouse: Warehouse, scope: Scope, subscriber_id: str) -> Subscriber:
    """One subscriber of this organization and mode, else 404."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    rows = warehouse.to_pyarrow(customers.filter(customers.id == subscriber_id)).to_pylist()
    if not rows:
        raise NotFound(f"No subscriber '{subscriber_id}' in this mode.")
    return _subscribers(warehouse, scope, rows, today=utc_today())[0]


def update_subscriber(
    warehouse: Warehouse, scope: Scope, subscriber_id: str, body: SubscriberUpdate
) -> Subscriber:
    """Replace the given ``tags`` / ``metadata`` (one data-plane transaction)."""
    get_subscriber(warehouse, scope, subscriber_id)
    given = body.model_dump(exclude_unset=True)
    repository.update_customer(
        warehouse,
        scope,
        subscriber_id,
        tags=given.get("tags"),
        metadata=given.get("metadata"),
        set_metadata="metadata" in given,
    )
    return get_subscriber(warehouse, scope, subscriber_id)


def get_subscription(warehouse: Warehouse, scope: Scope, subscription_id: str) -> Subscription:
    """One subscription row of this organization and mode, else 404."""
    rows_table = scoped(warehouse, SUBSCRIPTIONS, scope)
    rows = warehouse.to_pyarrow(rows_table.filter(rows_table.id == subscription_id)).to_pylist()
    if not rows:
        raise NotFound(f"No subscription '{subscription_id}' in this mode.")
    row = rows[0]
    return Subscription(
        id=row["id"],
        livemode=row["livemode"],
        customer_id=row["customer_id"],
        plan_id=row["plan_id"],
        currency=row["currency"],
        mrr=str(from_minor_units(row["mrr_minor"], row["currency"])),
        start_date=row["start_date"],
        end_date=row["end_date"],
        status=row["status"],
    )


def _subscribers(
    warehouse: Warehouse, scope: Scope, rows: list[dict[str, Any]], *, today: date
) -> list[Subscriber]:
    """Attach today's state, billing currency and MRR to customer rows (one page)."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    customers = scoped(warehouse, CUSTOMERS, scope)
    customers = customers.filter(customers.id.isin(ids))
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    subscriptions = subscriptions.filter(subscriptions.customer_id.isin(ids))
    state_expr = customer_state(customers, subscriptions, today, today=today)
    state = {r["customer_id"]: r for r in warehouse.to_pyarrow(state_expr).to_pylist()}
    currency_expr = billing_currency(customers, subscriptions)
    currencies = {
        r["customer_id"]: r["currency"] for r in warehouse.to_pyarrow(currency_expr).to_pylist()
    }
    amounts: dict[str, dict[str, int]] = defaultdict(dict)
    for r in warehouse.to_pyarrow(mrr_by_currency(subscriptions, today)).to_pylist():
        amounts[r["customer_id"]][r["currency"]] = r["mrr_minor"]
    mrr = _mrr_in_billing_currency(warehouse, scope, amounts, currencies, today)
    return [
        _subscriber(row, state[row["id"]], currencies.get(row["id"]), mrr.get(row["id"]))
        for row in rows
    ]


def _mrr_in_billing_currency(
    warehouse: Warehouse,
    scope: Scope,
    amounts: dict[str, dict[str, int]],
    currencies: dict[str, str | None],
    today: date,
) -> dict[str, str]:
    """customer → MRR today as a decimal string in its billing currency.

    Rows in another currency are converted at today's rate (``engine.fx``); the sum is
    rounded once, half away from zero, to the billing currency's minor unit.
    """
    pairs: set[tuple[str, date]] = set()
    for customer_id, by_currency in amounts.items():
        target = currencies.get(customer_id)
        foreign = [code for code in by_currency if code != target]
        if target is not None and foreign:
            pairs |= {(code, today) for code in (*foreign, target)}
    book = fx.RateBook.load(warehouse, scope, pairs) if pairs else fx.RateBook()
    result: dict[str, str] = {}
    for customer_id, target in currencies.items():
        if target is None:
            continue
        total = Decimal(0)
        for code, minor in amounts.get(customer_id, {}).items():
            total += Decimal(minor) * book.minor_factor(code, target, today)
        places = Decimal(1).scaleb(-exponent(target))
        result[customer_id] = str(round_half_away(total, places))
    return result


def _subscriber(
    row: dict[str, Any], state: dict[str, Any], currency: str | None, mrr: str | None
) -> Subscriber:
    return Subscriber(
        id=row["id"],
        livemode=row["livemode"],
        name=row["name"],
        email=row["email"],
        email_hashed=row["email_hashed"],
        country=row["country"],
        currency=currency,
        industry=row["industry"],
        channel=row["channel"],
        size=row["size"],
        segment=row["segment"],
        territory=row["territory"],
        owner_id=row["owner_id"],
        status=state["status"],
        plan_id=state["plan_id"],
        tags=list(row["tags"] or []),
        engagement_score=row["engagement_score"],
        health_score=row["health_score"],
        risk_score=row["risk_score"],
        created_at=_utc(row["created_at"]),
        metadata=_metadata(row["metadata"]),
        paid_started_at=state["paid_started_at"],
        tenure_days=state["tenure_days"],
        mrr=mrr,
    )


def _utc(moment: datetime) -> datetime:
    # The data plane keeps naive UTC timestamps; the API always says so.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _metadata(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None
