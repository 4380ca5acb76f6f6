"""The retention report for the dashboard: the form's parameters in, the API's envelope out.

The page never computes a number: it asks the same code as ``GET /v1/reports/cohort``
and lays out what comes back. Parameters keep the API's names, so the page's query
string, the CSV link and the API call are the same request.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from cohortd.api.deps import Principal
from cohortd.cohorts import service as cohorts
from cohortd.config import Settings
from cohortd.engine.membership import utc_today
from cohortd.engine.money import is_currency
from cohortd.engine.periods import Interval
from cohortd.engine.report import ReportFormat, run_report
from cohortd.engine.retention import Breakdown, Filters, ReportQuery
from cohortd.errors import InvalidParameter
from cohortd.warehouse import Warehouse


@dataclass(frozen=True, slots=True)
class ReportForm:
    """The report's query parameters, named as the API names them (strings as typed)."""

    interval: str = "month"
    date: str = ""
    baseCurrency: str = ""
    fix_fx: bool = False
    breakdown: str = ""
    region: str = ""
    currency: str = ""
    industry: str = ""
    channel: str = ""
    size: str = ""
    cohort: str = ""

    def api_params(self) -> dict[str, str]:
        """The non-empty parameters, as the API's query string takes them."""
        params: dict[str, str] = {}
        for name, value in asdict(self).items():
            if isinstance(value, bool):
                if value:
                    params[name] = "true"
            elif value:
                params[name] = str(value)
        return params


def _tokens(value: str) -> frozenset[str] | None:
    parts = value.split()
    return frozenset(parts) if parts else None


def _countries(region: str) -> frozenset[str] | None:
    tokens = _tokens(region)
    if tokens is None:
        return None
    for token in tokens:
        if len(token) != 2 or not token.isalpha():
            raise InvalidParameter("region", f"'{token}' is not an ISO 3166-1 alpha-2 code")
    return frozenset(t.upper() for t in tokens)


def _query(
    session: Session, warehouse: Warehouse, principal: Principal, form: ReportForm
) -> ReportQuery:
    try:
        interval = Interval.parse(form.interval or "month")
    except ValueError:
        raise InvalidParameter("interval", "one of day, week, month, quarter, year") from None
    try:
        as_of = date.fromisoformat(form.date) if form.date else utc_today()
    except ValueError:
        raise InvalidParameter("date", "a date as YYYY-MM-DD") from None
    base = (form.baseCurrency or principal.base_currency).upper()
    if not is_currency(base):
        raise InvalidParameter("baseCurrency", f"'{form.baseCurrency}' is not an ISO 4217 code")
    try:
        breakdown = Breakdown(form.breakdown) if form.breakdown else None
    except ValueError:
        raise InvalidParameter("breakdown", "country or currency") from None
    members = (
        cohorts.cohort_members_table(session, warehouse, principal, form.cohort, as_of)
        if form.cohort
        else None
    )
    return ReportQuery(
        as_of=as_of,
        interval=interval,
        base_currency=base,
        breakdown=breakdown,
        fix_fx=form.fix_fx,
        filters=Filters(
            countries=_countries(form.region),
            currencies=_tokens(form.currency),
            industries=_tokens(form.industry),
            channels=_tokens(form.channel),
            sizes=_tokens(form.size),
        ),
        members=members,
    )


def load_report(
    session: Session,
    warehouse: Warehouse,
    settings: Settings,
    principal: Principal,
    form: ReportForm,
) -> dict[str, Any]:
    """The list-format envelope of ``GET /v1/reports/cohort`` for these parameters."""
    query = _query(session, warehouse, principal, form)
    report = run_report(warehouse, principal.scope, query, max_cells=settings.report_max_cells)
    return report.envelope(ReportFormat.list)


def as_csv(envelope: dict[str, Any]) -> str:
    """One line per (cohort, period): the envelope's fields verbatim, nothing recomputed."""
    rows = envelope["result"]["list"]
    period_fields: list[str] = []
    for row in rows:
        for period in row["periods"]:
            period_fields.extend(f for f in period if f not in period_fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["cohort_group", "initial_customers", "initial_mrr", "period", *period_fields])
    for row in rows:
        for k, period in enumerate(row["periods"]):
            writer.writerow(
                [
                    row["cohort_group"],
                    row.get("initial_customers", ""),
                    row.get("initial_mrr", ""),
                    k,
                    *(_csv_value(period.get(f, "")) for f in period_fields),
                ]
            )
    return out.getvalue()


def _csv_value(value: object) -> object:
    return str(value).lower() if isinstance(value, bool) else value
