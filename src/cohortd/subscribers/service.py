"""Subscriber rules: a customer as of today, its MRR in its billing currency, its edits.

Lists walk the customers in id order and evaluate the filters only until the page is
full (``membership.first_member_ids``), then derive state and MRR for that page's ids
only, so a page costs a few small queries whatever the data size.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Final

import ibis.expr.types as ir

from cohortd import clock
from cohortd.api.paging import Page, PageParams
from cohortd.engine import fx
from cohortd.engine.compiled import run_cached
from cohortd.engine.customer_state import CustomerStatus, customer_state, mrr_by_currency
from cohortd.engine.facts import billing_currency
from cohortd.engine.membership import CohortDefinition, first_member_ids
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
    today = clock.today()
    definition = filters.to_definition()
    return page_of_members(warehouse, scope, definition, page, as_of=today, today=today)


def page_of_members(
    warehouse: Warehouse,
    scope: Scope,
    definition: CohortDefinition,
    page: PageParams,
    *,
    as_of: date,
    today: date,
) -> Page[Subscriber]:
    """A page (by id) of the members of ``definition`` as of ``as_of``, shown as of ``today``.

    Only as many customers are evaluated as the page needs (``first_member_ids`` finds
    ``limit + 1`` members past the cursor); paging is ``paginate_table``'s: ascending ids,
    ``ending_before`` pages backwards and shows the page in ascending order.
    """
    ids = first_member_ids(
        warehouse,
        scope,
        definition,
        as_of,
        today=today,
        limit=page.limit + 1,
        after=page.starting_after,
        before=page.ending_before,
    )
    has_more = len(ids) > page.limit
    ids = ids[: page.limit]
    if page.ending_before:
        ids.reverse()
    next_cursor = None
    if has_more and ids:
        next_cursor = ids[0] if page.ending_before else ids[-1]
    items = _subscribers(warehouse, scope, ids, today=today)
    return Page(items=items, has_more=has_more, next_cursor=next_cursor)


def get_subscriber(warehouse: Warehouse, scope: Scope, subscriber_id: str) -> Subscriber:
    """One subscriber of this organization and mode, else 404."""
    found = _subscribers(warehouse, scope, [subscriber_id], today=clock.today())
    if not found:
        raise NotFound(f"No subscriber '{subscriber_id}' in this mode.")
    return found[0]


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


# The state a subscriber shows (``paying`` is not part of it).
_SHOWN_STATE: Final = ("status", "plan_id", "paid_started_at", "tenure_days")


def _subscriber_view(
    warehouse: Warehouse, scope: Scope, ids: Sequence[str], today: date
) -> ir.Table:
    """The customer rows of ``ids`` with their state and billing currency as of ``today``.

    Derived values take ``state_status``, ``state_plan_id`` and ``billing_currency``
    (the customers' own ``status``, ``plan_id`` and ``currency`` keep their names)."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    customers = customers.filter(customers.id.isin(list(ids)))
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    subscriptions = subscriptions.filter(subscriptions.customer_id.isin(list(ids)))
    state = customer_state(customers, subscriptions, today, today=today, columns=_SHOWN_STATE)
    state = state.rename(state_id="customer_id", state_status="status", state_plan_id="plan_id")
    currency = billing_currency(customers, subscriptions)
    currency = currency.rename(currency_id="customer_id", billing_currency="currency")
    view = customers.left_join(state, customers.id == state.state_id)
    view = view.left_join(currency, view.id == currency.currency_id)
    return view.select(
        *customers.columns,
        "state_status",
        "state_plan_id",
        "paid_started_at",
        "tenure_days",
        "billing_currency",
    )


def _subscribers(
    warehouse: Warehouse, scope: Scope, ids: Sequence[str], *, today: date
) -> list[Subscriber]:
    """The subscribers ``ids`` (those that exist, in that order) with today's state,
    billing currency and MRR: two queries (compiled once per ids and day) and the rates."""
    if not ids:
        return []
    key = (scope, tuple(ids), today)
    view = run_cached(
        warehouse,
        ("subscriber_view", *key),
        partial(_subscriber_view, warehouse, scope, ids, today),
    )
    rows = {row["id"]: row for row in view}

    def amounts_expr() -> ir.Table:
        subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
        subscriptions = subscriptions.filter(subscriptions.customer_id.isin(list(ids)))
        return mrr_by_currency(subscriptions, today)

    amounts: dict[str, dict[str, int]] = defaultdict(dict)
    for r in run_cached(warehouse, ("subscriber_mrr", *key), amounts_expr):
        amounts[r["customer_id"]][r["currency"]] = int(r["mrr_minor"])
    currencies = {customer_id: row["billing_currency"] for customer_id, row in rows.items()}
    mrr = _mrr_in_billing_currency(warehouse, scope, amounts, currencies, today)
    return [_subscriber(rows[i], mrr.get(i)) for i in ids if i in rows]


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
    codes: set[str] = set()
    for customer_id, by_currency in amounts.items():
        target = currencies.get(customer_id)
        foreign = [code for code in by_currency if code != target]
        if target is not None and foreign:
            codes |= {*foreign, target}
    book = _rates_on(warehouse, scope, codes, today)
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


def _rates_on(warehouse: Warehouse, scope: Scope, codes: set[str], day: date) -> fx.RateBook:
    """The rates of ``codes`` on ``day`` (``fx.rate_intervals``: the latest observation on
    or before it, before the first the first), in one query compiled once per currency set
    and day. A currency with no rate is missing from the book: converting it raises
    ``UnknownCurrency`` naming it."""
    asked = tuple(sorted(codes - {"EUR"}))
    if not asked:
        return fx.RateBook()

    def build() -> ir.Table:
        intervals = fx.rate_intervals(warehouse, scope, asked)
        valid = (intervals.valid_from <= day) & (intervals.valid_to > day)
        return intervals.filter(valid).select("currency", "rate")

    rows = run_cached(warehouse, ("rates_on", scope, asked, day), build)
    return fx.RateBook({(row["currency"], day): Decimal(row["rate"]) for row in rows})


def _subscriber(row: dict[str, Any], mrr: str | None) -> Subscriber:
    return Subscriber(
        id=row["id"],
        livemode=row["livemode"],
        name=row["name"],
        email=row["email"],
        email_hashed=row["email_hashed"],
        country=row["country"],
        currency=row["billing_currency"],
        industry=row["industry"],
        channel=row["channel"],
        size=row["size"],
        segment=row["segment"],
        territory=row["territory"],
        owner_id=row["owner_id"],
        status=row["state_status"],
        plan_id=row["state_plan_id"],
        tags=list(row["tags"] or []),
        engagement_score=row["engagement_score"],
        health_score=row["health_score"],
        risk_score=row["risk_score"],
        created_at=_utc(row["created_at"]),
        metadata=_metadata(row["metadata"]),
        paid_started_at=row["paid_started_at"],
        tenure_days=row["tenure_days"],
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
