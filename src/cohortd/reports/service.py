"""Rules of ``GET /v1/reports/cohort``: parse every parameter (400 naming the bad one),
cap the report size (422), bound the query time (503), run the engine."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import ibis.expr.types as ir
import orjson
from sqlalchemy.orm import Session

from cohortd import clock
from cohortd.api.bounds import day_in_range
from cohortd.api.deps import Principal
from cohortd.api.reads import analytic, timeout_error
from cohortd.cohorts.service import cohort_members_table, get_cohort_row
from cohortd.config import Settings
from cohortd.engine import collection, derived
from cohortd.engine.fx import UnknownCurrency, require_currencies
from cohortd.engine.money import is_currency
from cohortd.engine.periods import Interval
from cohortd.engine.regions import UnknownRegion, expand
from cohortd.engine.report import Report, ReportFormat, run_report
from cohortd.engine.retention import Breakdown, Filters, ReportQuery
from cohortd.errors import InvalidParameter
from cohortd.warehouse import Scope, Warehouse

# SPEC §3's cap on a cohort definition's lists, applied to the report's filter lists too.
MAX_FILTER_VALUES = 1_000
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


@dataclass(frozen=True)
class ReportParams:
    """The raw query parameters, exactly as received (``None`` = absent)."""

    date: str | None = None
    interval: str | None = None
    baseCurrency: str | None = None
    breakdown: str | None = None
    fix_fx: str | None = None
    region: str | None = None
    currency: str | None = None
    industry: str | None = None
    channel: str | None = None
    size: str | None = None
    format: str | None = None
    cohort_id: str | None = None


def _given(value: str | None) -> str | None:
    """An empty parameter counts as absent (``?region=`` means no region filter)."""
    return value.strip() if value is not None and value.strip() else None


def _tokens(value: str | None, name: str) -> list[str] | None:
    """A space-separated filter list, at most ``MAX_FILTER_VALUES`` values (400 beyond)."""
    given = _given(value)
    tokens = given.split() if given else None
    if tokens and len(tokens) > MAX_FILTER_VALUES:
        raise InvalidParameter(name, f"at most {MAX_FILTER_VALUES} values")
    return tokens


def parse_date(value: str | None) -> date:
    given = _given(value)
    if given is None:
        return clock.today()
    try:
        if len(given) != 10:
            raise ValueError
        day = date.fromisoformat(given)
    except ValueError:
        raise InvalidParameter("date", f"{given!r} is not a date in YYYY-MM-DD form") from None
    return day_in_range("date", day)


def parse_interval(value: str | None) -> Interval:
    given = _given(value)
    try:
        return Interval.parse(given) if given else Interval.month
    except ValueError:
        raise InvalidParameter(
            "interval", f"{given!r} is not one of day, week, month, quarter, year"
        ) from None


def parse_currency_code(name: str, value: str) -> str:
    code = value.strip().upper()
    if not is_currency(code):
        raise InvalidParameter(name, f"{value!r} is not an ISO 4217 currency code")
    return code


def parse_breakdown(value: str | None) -> Breakdown | None:
    given = _given(value)
    if given is None:
        return None
    try:
        return Breakdown(given.lower())
    except ValueError:
        raise InvalidParameter("breakdown", f"{given!r} is not one of country, currency") from None


def parse_bool(name: str, value: str | None) -> bool:
    given = _given(value)
    if given is None:
        return False
    if given.lower() in _TRUE:
        return True
    if given.lower() in _FALSE:
        return False
    raise InvalidParameter(name, f"{given!r} is not a boolean (true or false)")


def parse_format(value: str | None) -> ReportFormat:
    given = _given(value)
    try:
        return ReportFormat(given.lower()) if given else ReportFormat.list
    except ValueError:
        raise InvalidParameter("format", f"{given!r} is not one of list, chart") from None


def parse_filters(params: ReportParams) -> Filters:
    regions = _tokens(params.region, "region")
    try:
        countries = expand(regions) if regions else None
    except UnknownRegion as unknown:
        raise InvalidParameter(
            "region", f"{unknown.token!r} is neither a region slug nor a country code"
        ) from None
    currencies = _tokens(params.currency, "currency")
    codes = (
        frozenset(parse_currency_code("currency", c) for c in currencies) if currencies else None
    )

    def free(value: str | None, name: str) -> frozenset[str] | None:
        tokens = _tokens(value, name)
        return frozenset(tokens) if tokens else None

    return Filters(
        countries=countries,
        currencies=codes,
        industries=free(params.industry, "industry"),
        channels=free(params.channel, "channel"),
        sizes=free(params.size, "size"),
    )


def parse_query(
    params: ReportParams, *, default_currency: str, members: ir.Table | None = None
) -> tuple[ReportQuery, ReportFormat]:
    """Every parameter checked; the first bad one raises ``InvalidParameter`` naming it."""
    base = _given(params.baseCurrency)
    query = ReportQuery(
        as_of=parse_date(params.date),
        interval=parse_interval(params.interval),
        base_currency=parse_currency_code("baseCurrency", base) if base else default_currency,
        breakdown=parse_breakdown(params.breakdown),
        fix_fx=parse_bool("fix_fx", params.fix_fx),
        filters=parse_filters(params),
        members=members,
    )
    return query, parse_format(params.format)


def cohort_report(
    warehouse: Warehouse,
    scope: Scope,
    query: ReportQuery,
    fmt: ReportFormat,
    *,
    max_cells: int,
    timeout_seconds: float,
) -> dict[str, Any]:
    """The response body of ``GET /v1/reports/cohort`` (one pause of the garbage
    collector for the cells and their JSON fields: ``engine.collection``)."""
    # A recent import's derived rows, if still waiting: before the reader (whose
    # snapshot then holds them) and outside the deadline (an interrupted refresh would
    # roll back and wait again). Inside a reading block already, the block is joined.
    derived.catch_up(warehouse, scope)
    deadline = warehouse.deadline(timeout_seconds, timeout_error(timeout_seconds))
    with collection.paused():
        with deadline:
            try:
                require_currencies(warehouse, scope, [query.base_currency])
            except UnknownCurrency:
                raise InvalidParameter(
                    "baseCurrency", f"no exchange rates are known for {query.base_currency}"
                ) from None
            report: Report = run_report(warehouse, scope, query, max_cells=max_cells)
        return report.envelope(fmt)


def request_key(session: Session, principal: Principal, params: ReportParams) -> tuple[Any, ...]:
    """Everything a report's answer depends on besides its scope's data: the parsed
    query (the date resolved, so "today" changes at midnight) and the format, plus the
    definition of the cohort it is restricted to (a control-plane row). Bad parameters
    raise here, before any work."""
    query, fmt = parse_query(params, default_currency=principal.base_currency)
    cohort_id = _given(params.cohort_id)
    cohort = None
    if cohort_id is not None:
        row = get_cohort_row(session, principal, cohort_id)
        cohort = (row.id, orjson.dumps(row.definition, option=orjson.OPT_SORT_KEYS))
    return (
        query.as_of,
        query.interval,
        query.base_currency,
        query.breakdown,
        query.fix_fx,
        query.filters,
        fmt,
        cohort,
    )


def report_for(
    session: Session,
    warehouse: Warehouse,
    principal: Principal,
    params: ReportParams,
    *,
    settings: Settings,
) -> dict[str, Any]:
    """Parse, restrict to ``cohort_id``'s members (as of the report date) when given, run
    (one reader under the request deadline for all of it)."""
    query, fmt = parse_query(params, default_currency=principal.base_currency)
    with analytic(warehouse, principal.scope, settings):
        cohort_id = _given(params.cohort_id)
        if cohort_id is not None:
            members = cohort_members_table(
                session, warehouse, principal, cohort_id, as_of=query.as_of
            )
            query = replace(query, members=members)
        return cohort_report(
            warehouse,
            principal.scope,
            query,
            fmt,
            max_cells=settings.report_max_cells,
            timeout_seconds=settings.query_timeout_seconds,
        )
