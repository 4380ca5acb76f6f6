"""A customer's state on a day d (SPEC §1), as Ibis expressions.

``customer_state`` answers, per customer: whether its MRR on d is > 0, its status and plan
(the given ones describe today only; any other day, or when absent, they are derived from
the subscriptions covering d), ``paid_started_at`` and ``tenure_days``.

MRR is never negative, so "MRR > 0" needs no currency conversion: a customer pays on d
exactly when a row with ``mrr_minor > 0`` covers d. Amounts themselves stay per currency
(``mrr_by_currency``); summing across currencies is ``cohortd.engine.fx``'s job.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from enum import StrEnum
from typing import Final

import ibis
import ibis.expr.types as ir

from cohortd.engine.facts import paid_started
from cohortd.engine.money import CURRENCY_EXPONENTS


class CustomerStatus(StrEnum):
    """The statuses of SPEC §1, given or derived."""

    active = "active"
    trialing = "trialing"
    paused = "paused"
    cancelled = "cancelled"
    lapsed = "lapsed"


STATE_COLUMNS: Final = (
    "paying",
    "status",
    "plan_id",
    "paid_started_at",
    "tenure_days",
)

# Scale every currency's minor units to 1/10_000 of its major unit so that rows in
# different currencies compare by face value when ranking plans (exact integers).
_MAX_EXPONENT: Final = max(CURRENCY_EXPONENTS.values())


def covering(subscriptions: ir.Table, day: date) -> ir.Table:
    """The subscription rows in force on ``day``: ``start_date <= day < end_date``."""
    return subscriptions.filter(
        (subscriptions.start_date <= day)
        & (subscriptions.end_date.isnull() | (subscriptions.end_date > day))
    )


def mrr_by_currency(subscriptions: ir.Table, day: date) -> ir.Table:
    """``customer_id, currency, mrr_minor``: MRR on ``day`` per customer and currency.

    Kept per currency on purpose: a total across currencies needs exchange rates.
    """
    rows = covering(subscriptions, day)
    return rows.group_by(["customer_id", "currency"]).agg(mrr_minor=rows.mrr_minor.sum())


def _face_value(rows: ir.Table) -> ir.IntegerValue:
    """``mrr_minor`` in 1/10_000 major units, whatever the row's currency."""
    by_exponent: dict[int, list[str]] = {}
    for code, exp in CURRENCY_EXPONENTS.items():
        by_exponent.setdefault(exp, []).append(code)
    factor = ibis.cases(
        *[
            (rows.currency.isin(sorted(codes)), 10 ** (_MAX_EXPONENT - exp))
            for exp, codes in sorted(by_exponent.items())
        ],
        else_=10 ** (_MAX_EXPONENT - 2),
    )
    return rows.mrr_minor * factor


def _covering_facts(subscriptions: ir.Table, day: date) -> ir.Table:
    """Per customer with a row covering ``day``: paying?, any paused row?"""
    rows = covering(subscriptions, day)
    return rows.group_by("customer_id").agg(
        cov_paying=(rows.mrr_minor > 0).any(),
        cov_paused=(rows.status.lower() == CustomerStatus.paused.value).any(),
    )


def _derived_plan(subscriptions: ir.Table, day: date) -> ir.Table:
    """Per customer: the plan of the covering row with the highest MRR (ties: smallest id)."""
    rows = covering(subscriptions, day)
    ranked = rows.mutate(
        _rank=ibis.row_number().over(
            group_by=rows.customer_id,
            order_by=[ibis.desc(_face_value(rows)), rows.plan_id.asc(nulls_first=False)],
        )
    )
    top = ranked.filter(ranked._rank == 0)
    return top.select(plan_customer_id=top.customer_id, derived_plan_id=top.plan_id)


def _last_ended(subscriptions: ir.Table, day: date) -> ir.Table:
    """Per customer with a row ended on or before ``day``: does the last-ended row say lapsed?

    Several rows ending on the same last day: lapsed when any of them says lapsed.
    """
    ended = subscriptions.filter(subscriptions.end_date <= day)
    marked = ended.mutate(_last=ended.end_date.max().over(group_by=ended.customer_id))
    last = marked.filter(marked.end_date == marked._last)
    return last.group_by("customer_id").agg(
        ended_lapsed=(last.status.lower() == CustomerStatus.lapsed.value).any()
    )


def customer_state(
    customers: ir.Table,
    subscriptions: ir.Table,
    day: date,
    *,
    today: date,
    columns: Collection[str] = STATE_COLUMNS,
) -> ir.Table:
    """One row per customer: ``customer_id`` plus the asked ``columns`` of ``paying,
    status, plan_id, paid_started_at, tenure_days`` as of ``day``.

    ``today`` decides whether the customers' given ``status``/``plan_id`` apply (they
    describe today only). ``tenure_days`` and ``paid_started_at`` are null when the
    customer had not paid by ``day``. Only the joins the asked columns need are made.
    """
    wanted = set(columns) - {"customer_id"}
    unknown = wanted - set(STATE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown state columns: {sorted(unknown)}")
    joined = customers.select(
        customer_id=customers.id, given_status=customers.status, given_plan=customers.plan_id
    )
    if wanted & {"paying", "status"}:
        facts = _covering_facts(subscriptions, day).rename(cov_customer_id="customer_id")
        joined = joined.left_join(facts, joined.customer_id == facts.cov_customer_id)
    if "status" in wanted:
        ended = _last_ended(subscriptions, day).rename(end_customer_id="customer_id")
        joined = joined.left_join(ended, joined.customer_id == ended.end_customer_id)
    if "plan_id" in wanted:
        plans = _derived_plan(subscriptions, day)
        joined = joined.left_join(plans, joined.customer_id == plans.plan_customer_id)
    if wanted & {"paid_started_at", "tenure_days"}:
        paid = paid_started(subscriptions).rename(paid_customer_id="customer_id")
        joined = joined.left_join(paid, joined.customer_id == paid.paid_customer_id)

    is_today = ibis.literal(day == today)
    values: dict[str, ir.Value] = {}
    if "paying" in wanted:
        values["paying"] = joined.cov_paying.fill_null(False)
    if "status" in wanted:
        given = is_today & joined.given_status.notnull()
        values["status"] = ibis.ifelse(given, joined.given_status, _derived_status(joined))
    if "plan_id" in wanted:
        given = is_today & joined.given_plan.notnull()
        values["plan_id"] = ibis.ifelse(given, joined.given_plan, joined.derived_plan_id)
    if wanted & {"paid_started_at", "tenure_days"}:
        started = joined.paid_started_at
        paid_by_day = started.notnull() & (started <= day)
        values["paid_started_at"] = ibis.ifelse(paid_by_day, started, ibis.null("date"))
        tenure = ibis.literal(day).delta(started, unit="day")
        values["tenure_days"] = ibis.ifelse(paid_by_day, tenure, ibis.null("int64")).cast("int64")
    ordered = {name: values[name] for name in STATE_COLUMNS if name in values}
    return joined.select(customer_id=joined.customer_id, **ordered)


def _derived_status(joined: ir.Table) -> ir.StringValue:
    """SPEC §1's order: active, paused, trialing, lapsed, cancelled, else null."""
    return ibis.cases(
        (joined.cov_paying.fill_null(False), CustomerStatus.active.value),
        (joined.cov_paused.fill_null(False), CustomerStatus.paused.value),
        (joined.cov_customer_id.notnull(), CustomerStatus.trialing.value),
        (joined.ended_lapsed.fill_null(False), CustomerStatus.lapsed.value),
        (joined.end_customer_id.notnull(), CustomerStatus.cancelled.value),
        else_=ibis.null("string"),
    )
