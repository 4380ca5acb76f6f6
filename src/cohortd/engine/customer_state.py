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

from cohortd.engine.money import BILLING_EXPONENTS


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
_MAX_EXPONENT: Final = max(BILLING_EXPONENTS.values())


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
    for code, exp in BILLING_EXPONENTS.items():
        if exp != 2:  # two decimals, most currencies, is the ``else_``: a short CASE
            by_exponent.setdefault(exp, []).append(code)
    factor = ibis.cases(
        *[
            (rows.currency.isin(sorted(codes)), 10 ** (_MAX_EXPONENT - exp))
            for exp, codes in sorted(by_exponent.items())
        ],
        else_=10 ** (_MAX_EXPONENT - 2),
    )
    return rows.mrr_minor * factor


def _derived_plan(rows: ir.Table) -> ir.Table:
    """Per customer: the plan of the covering row with the highest MRR (ties: smallest id).

    ``rows`` are the covering rows. A window, not ``first(order_by=...)``: PostgreSQL's
    ``first`` skips a null plan, and the top row's plan may be null."""
    ranked = rows.mutate(
        _rank=ibis.row_number().over(
            group_by=rows.customer_id,
            order_by=[ibis.desc(_face_value(rows)), rows.plan_id.asc(nulls_first=False)],
        )
    )
    top = ranked.filter(ranked._rank == 0)
    return top.select(plan_customer_id=top.customer_id, derived_plan_id=top.plan_id)


def _status_facts(statuses: frozenset[str]) -> set[str]:
    """The facts that decide whether the derived status is one of ``statuses``.

    SPEC §1's branches come in order, so a status needs the facts of those before it,
    except that "no covering row" (``cov_any``) already rules out active and paused."""
    facts = {"cov_paying"}
    if statuses & {CustomerStatus.paused, CustomerStatus.trialing}:
        facts.add("cov_paused")
    if statuses & {CustomerStatus.trialing, CustomerStatus.lapsed, CustomerStatus.cancelled}:
        facts.add("cov_any")
    if statuses & {CustomerStatus.lapsed, CustomerStatus.cancelled}:
        facts |= {"last_end", "last_lapsed_end"}
    return facts


def _history_facts(
    rows: ir.Table, day: date, wanted: set[str], statuses: frozenset[str]
) -> ir.Table:
    """``customer_id`` plus what the asked state columns need, in one grouped pass over
    ``rows`` (the rows that started by ``day``: later ones change nothing as of it).

    The last-ended row is found without a window: it says lapsed exactly when the latest
    end among lapsed rows equals the latest end among all ended rows."""
    is_covering = rows.end_date.isnull() | (rows.end_date > day)
    is_paying = rows.mrr_minor > 0
    status = rows.status.lower()
    ended = rows.end_date <= day
    facts = _status_facts(statuses) if "status" in wanted else {"cov_paying"}
    every: dict[str, ir.Value] = {
        "cov_paying": (is_covering & is_paying).any(),
        "cov_paused": (is_covering & (status == CustomerStatus.paused.value)).any(),
        "cov_any": is_covering.any(),
        "last_end": rows.end_date.max(where=ended),
        "last_lapsed_end": rows.end_date.max(where=ended & (status == CustomerStatus.lapsed.value)),
    }
    metrics = {name: value for name, value in every.items() if name in facts}
    if wanted & {"paid_started_at", "tenure_days"}:
        metrics["paid_started_at"] = rows.start_date.min(where=is_paying)
    return rows.group_by("customer_id").agg(**metrics)


def _checked(
    columns: Collection[str], statuses: Collection[str]
) -> tuple[set[str], frozenset[str]]:
    wanted = set(columns) - {"customer_id"}
    unknown = wanted - set(STATE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown state columns: {sorted(unknown)}")
    return wanted, frozenset(status.lower() for status in statuses)


def _rows_started(subscriptions: ir.Table, customers: ir.Table, day: date) -> ir.Table:
    """The subscription rows of ``customers`` (by ``id``) that started by ``day``.

    A semi-join, so a filtered ``customers`` costs in proportion (DuckDB probes the
    subscriptions with a filter built from the customers' ids)."""
    ids = customers.select(owner_id=customers.id)
    rows = subscriptions.filter(subscriptions.start_date <= day)
    return rows.semi_join(ids, rows.customer_id == ids.owner_id)


def _with_plans(joined: ir.Table, rows: ir.Table, day: date) -> ir.Table:
    plans = _derived_plan(rows.filter(rows.end_date.isnull() | (rows.end_date > day)))
    return joined.left_join(plans, joined.customer_id == plans.plan_customer_id)


def customer_state(
    customers: ir.Table,
    subscriptions: ir.Table,
    day: date,
    *,
    today: date,
    columns: Collection[str] = STATE_COLUMNS,
    statuses: Collection[str] = tuple(CustomerStatus),
) -> ir.Table:
    """One row per customer: ``customer_id`` plus the asked ``columns`` of ``paying,
    status, plan_id, paid_started_at, tenure_days`` as of ``day``.

    ``today`` decides whether the customers' given ``status``/``plan_id`` apply (they
    describe today only). ``tenure_days`` and ``paid_started_at`` are null when the
    customer had not paid by ``day``. A derived ``status`` outside ``statuses`` (default:
    all) reads as null, so that only the facts deciding those statuses are gathered.

    Only the subscription rows of ``customers`` are read, in one grouped pass; the plan
    ranking is a second pass over the covering rows, made only when ``plan_id`` is asked.
    """
    wanted, asked = _checked(columns, statuses)
    joined = customers.select(
        customer_id=customers.id, given_status=customers.status, given_plan=customers.plan_id
    )
    rows = _rows_started(subscriptions, customers, day)
    if wanted - {"plan_id"}:
        facts = _history_facts(rows, day, wanted, asked).rename(fact_customer_id="customer_id")
        joined = joined.left_join(facts, joined.customer_id == facts.fact_customer_id)
    if "plan_id" in wanted:
        joined = _with_plans(joined, rows, day)
    return _state_columns(joined, day, today=today, wanted=wanted, statuses=asked)


def customer_state_with_history(
    candidates: ir.Table,
    customers: ir.Table,
    subscriptions: ir.Table,
    day: date,
    *,
    today: date,
    columns: Collection[str] = STATE_COLUMNS,
    statuses: Collection[str] = tuple(CustomerStatus),
) -> ir.Table:
    """``customer_state`` for the ``candidates`` that have a subscription row started by
    ``day``; the others are left out (their status, plan and tenure would come from the
    given fields alone).

    Cheaper when only such customers can qualify: the subscriptions are read for the
    candidates' ids and the candidates' own filter is evaluated once. The given
    status/plan (they apply only when ``day`` is ``today``) come from the rows of
    ``customers`` (the scope's table) that have one: a column of nulls costs nothing to
    scan."""
    wanted, asked = _checked(columns, statuses)
    rows = _rows_started(subscriptions, candidates, day)
    joined = _history_facts(rows, day, wanted, asked)
    given_columns = {"status": customers.status, "plan_id": customers.plan_id}
    present = [given_columns[name].notnull() for name in sorted(wanted & set(given_columns))]
    if day == today and present:
        given = customers.filter(ibis.or_(*present)).select(
            given_id=customers.id, given_status=customers.status, given_plan=customers.plan_id
        )
        joined = joined.left_join(given, joined.customer_id == given.given_id).drop("given_id")
    else:
        joined = joined.mutate(given_status=ibis.null("string"), given_plan=ibis.null("string"))
    if "plan_id" in wanted:
        joined = _with_plans(joined, rows, day)
    return _state_columns(joined, day, today=today, wanted=wanted, statuses=asked)


def _state_columns(
    joined: ir.Table, day: date, *, today: date, wanted: set[str], statuses: frozenset[str]
) -> ir.Table:
    is_today = ibis.literal(day == today)
    values: dict[str, ir.Value] = {}
    if "paying" in wanted:
        values["paying"] = joined.cov_paying.fill_null(False)
    if "status" in wanted:
        given = is_today & joined.given_status.notnull()
        derived = _derived_status(joined, statuses)
        values["status"] = ibis.ifelse(given, joined.given_status, derived)
    if "plan_id" in wanted:
        given = is_today & joined.given_plan.notnull()
        values["plan_id"] = ibis.ifelse(given, joined.given_plan, joined.derived_plan_id)
    if wanted & {"paid_started_at", "tenure_days"}:
        # only rows started by ``day`` were read: a paid start here is on or before it
        started = joined.paid_started_at
        values["paid_started_at"] = started
        values["tenure_days"] = ibis.literal(day).delta(started, unit="day").cast("int64")
    ordered = {name: values[name] for name in STATE_COLUMNS if name in values}
    return joined.select(customer_id=joined.customer_id, **ordered)


def _derived_status(joined: ir.Table, statuses: frozenset[str]) -> ir.StringValue:
    """SPEC §1's order: active, paused, trialing, lapsed, cancelled, else null.

    Branches whose facts were not gathered are left out (``_status_facts`` gathers what
    decides ``statuses``); a status outside ``statuses`` reads as null."""

    def shown(status: CustomerStatus) -> ir.StringValue:
        return ibis.literal(status.value) if status in statuses else ibis.null("string")

    have = set(joined.columns)
    branches: list[tuple[ir.BooleanValue, ir.StringValue]] = [
        (joined.cov_paying.fill_null(False), shown(CustomerStatus.active))
    ]
    if "cov_paused" in have:
        branches.append((joined.cov_paused.fill_null(False), shown(CustomerStatus.paused)))
    if "cov_any" in have:
        branches.append((joined.cov_any.fill_null(False), shown(CustomerStatus.trialing)))
    if "last_end" in have:
        last_end = joined.last_end
        lapsed = last_end.notnull() & (joined.last_lapsed_end == last_end)
        branches.append((lapsed, shown(CustomerStatus.lapsed)))
        branches.append((last_end.notnull(), shown(CustomerStatus.cancelled)))
    return ibis.cases(*branches, else_=ibis.null("string"))
