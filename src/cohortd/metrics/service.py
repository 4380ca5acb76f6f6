"""Rules of ``GET /v1/metrics``: parse every parameter (400 naming the bad one), cap the
series at ``MAX_ENTRIES`` (422), bound the query time (503), run the engine, shape."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import orjson
from sqlalchemy.orm import Session

from cohortd import clock
from cohortd.api.deps import Principal
from cohortd.cohorts.service import cohort_members_table, get_cohort_row
from cohortd.engine import derived, metrics
from cohortd.engine.fx import UnknownCurrency, require_currencies
from cohortd.engine.metrics import Granularity, MetricsSeries
from cohortd.engine.periods import Interval, period_of
from cohortd.errors import FieldError, InvalidParameter, NotFound, QueryTimeout, ReportTooLarge
from cohortd.reports.service import ReportParams, parse_bool, parse_currency_code, parse_filters
from cohortd.warehouse import Warehouse

MAX_ENTRIES: Final = 1000


@dataclass(frozen=True)
class MetricsParams:
    """The raw query parameters, exactly as received (``None`` = absent)."""

    start_date: str | None = None
    end_date: str | None = None
    interval: str | None = None
    baseCurrency: str | None = None
    fix_fx: str | None = None
    region: str | None = None
    currency: str | None = None
    industry: str | None = None
    channel: str | None = None
    size: str | None = None
    cohort_id: str | None = None


@dataclass(frozen=True)
class MetricsQuery:
    """Every parameter checked."""

    granularity: Granularity
    start: date
    end: date
    today: date
    currency: str
    fix_fx: bool
    params: MetricsParams


def _given(value: str | None) -> str | None:
    return value.strip() if value is not None and value.strip() else None


def parse_day(name: str, value: str | None) -> date | None:
    given = _given(value)
    if given is None:
        return None
    try:
        if len(given) != 10:
            raise ValueError
        return date.fromisoformat(given)
    except ValueError:
        raise InvalidParameter(name, f"{given!r} is not a date in YYYY-MM-DD form") from None


def parse_granularity(value: str | None) -> Granularity:
    given = _given(value)
    try:
        return Granularity(given.lower()) if given else Granularity.month
    except ValueError:
        raise InvalidParameter(
            "interval", f"{given!r} is not one of day, week, month, quarter, year"
        ) from None


def entry_count(granularity: Granularity, start: date, end: date) -> int:
    """How many periods ``start`` … ``end`` spans."""
    if granularity is Granularity.day:
        return (end - start).days + 1
    interval = Interval(granularity.value)
    return period_of(end, interval) - period_of(start, interval) + 1


def parse_query(params: MetricsParams, *, default_currency: str, today: date) -> MetricsQuery:
    """The first bad parameter raises ``InvalidParameter`` naming it; too many entries
    ``ReportTooLarge`` naming ``start_date``."""
    granularity = parse_granularity(params.interval)
    end = parse_day("end_date", params.end_date) or today
    if end > today:
        raise InvalidParameter("end_date", "must not be after today (UTC)")
    start = parse_day("start_date", params.start_date) or metrics.default_start(granularity, end)
    if start > end:
        raise InvalidParameter("start_date", "must not be after end_date")
    base = _given(params.baseCurrency)
    currency = parse_currency_code("baseCurrency", base) if base else default_currency
    fix_fx = parse_bool("fix_fx", params.fix_fx)
    count = entry_count(granularity, start, end)
    if count > MAX_ENTRIES:
        raise ReportTooLarge(
            f"The series would have {count} entries, more than {MAX_ENTRIES}: narrow it "
            "with a later start_date, an earlier end_date or a longer interval.",
            errors=[FieldError(("query", "start_date"), f"at most {MAX_ENTRIES} entries")],
        )
    if start < date(1900, 1, 1):
        raise InvalidParameter("start_date", "must not be before 1900-01-01")
    return MetricsQuery(granularity, start, end, today, currency, fix_fx, params)


def request_key(session: Session, principal: Principal, params: MetricsParams) -> tuple[Any, ...]:
    """Everything the answer depends on besides the scope's data (the answer cache's
    key): today, the checked parameters and the definition of ``cohort_id``'s cohort.
    Bad parameters raise here, before any work."""
    today = clock.today()
    query = parse_query(params, default_currency=principal.base_currency, today=today)
    cohort = None
    cohort_id = _given(params.cohort_id)
    if cohort_id is not None:
        row = get_cohort_row(session, principal, cohort_id)
        cohort = (row.id, orjson.dumps(row.definition, option=orjson.OPT_SORT_KEYS))
    return (today, query, _filters(params), cohort)


def _filters(params: MetricsParams) -> Any:
    return parse_filters(
        ReportParams(
            region=params.region,
            currency=params.currency,
            industry=params.industry,
            channel=params.channel,
            size=params.size,
        )
    )


def series_for(
    session: Session,
    warehouse: Warehouse,
    principal: Principal,
    params: MetricsParams,
    *,
    timeout_seconds: float,
    today: date | None = None,
) -> tuple[MetricsQuery, MetricsSeries]:
    """Parse, restrict to the filters and ``cohort_id``'s members (as of ``end_date``), run."""
    today = today or clock.today()
    query = parse_query(params, default_currency=principal.base_currency, today=today)
    filters = _filters(params)
    members = None
    cohort_id = _given(params.cohort_id)
    if cohort_id is not None:
        members = cohort_members_table(session, warehouse, principal, cohort_id, as_of=query.end)
    scope = principal.scope
    # a recent import's derived rows, if still waiting: outside the deadline, which is the
    # metrics' own (an interrupted refresh would roll back and wait again)
    derived.catch_up(warehouse, scope)
    timeout = QueryTimeout(
        f"The metrics took longer than {timeout_seconds:g} s. Narrow them (a later "
        "start_date, a longer interval, a filter) or raise query_timeout_seconds."
    )
    with warehouse.deadline(timeout_seconds, timeout):
        try:
            require_currencies(warehouse, scope, [query.currency])
        except UnknownCurrency:
            raise InvalidParameter(
                "baseCurrency", f"no exchange rates are known for {query.currency}"
            ) from None
        series = metrics.metrics_series(
            warehouse,
            scope,
            members=metrics.universe(warehouse, scope, filters, members),
            granularity=query.granularity,
            start=query.start,
            end=query.end,
            today=query.today,
            currency=query.currency,
            fix_fx=query.fix_fx,
        )
    return query, series


def metrics_body(query: MetricsQuery, series: MetricsSeries) -> dict[str, Any]:
    """``{"object": "metrics", "interval", "currency", "entries", "summary"}``."""
    return {
        "object": "metrics",
        "interval": query.granularity.value,
        "currency": query.currency,
        "entries": [e.as_json() for e in series.entries],
        "summary": series.summary(),
    }


def parse_metric(name: str) -> str:
    """A numeric entry field, else 404 naming it."""
    if name not in metrics.NUMERIC_FIELDS:
        raise NotFound(
            f"No metric named {name[:40]!r}; one of: {', '.join(metrics.NUMERIC_FIELDS)}."
        )
    return name


def metric_body(name: str, query: MetricsQuery, series: MetricsSeries) -> dict[str, Any]:
    """One series: ``{"object": "metric", "metric", ..., "entries": [{date, value,
    percentage_change}], "summary"}`` (change against the entry before; null first)."""
    entries = []
    previous: Any = None
    for k, entry in enumerate(series.entries):
        value = entry.values()[name]
        change = metrics.percentage_change(value, previous) if k else None
        entries.append(
            {
                "date": entry.moved.window.end.isoformat(),
                "value": metrics.rounded(value),
                "percentage_change": metrics.rounded(change),
            }
        )
        previous = value
    return {
        "object": "metric",
        "metric": name,
        "interval": query.granularity.value,
        "currency": query.currency,
        "entries": entries,
        "summary": series.summary([name])[name],
    }


def as_csv(body: dict[str, Any]) -> str:
    """One line per entry with every field (or date, value, change for one metric)."""
    out = io.StringIO()
    rows: list[dict[str, Any]] = body["entries"]
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
