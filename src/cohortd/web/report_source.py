"""The retention report for the dashboard: the form's parameters in, the API's envelope out.

The page never computes a number: it asks the same code as ``GET /v1/reports/cohort``
and lays out what comes back. Parameters keep the API's names, so the page's query
string, the CSV link and the API call are the same request.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from cohortd.api.deps import Principal
from cohortd.config import Settings
from cohortd.reports.service import ReportParams, report_for
from cohortd.warehouse import Warehouse


@dataclass(frozen=True, slots=True)
class ReportForm:
    """The report's query parameters, named as the API names them (strings as typed)."""

    interval: str = "month"
    date: str = ""
    baseCurrency: str = ""
    fix_fx: str = ""
    breakdown: str = ""
    region: str = ""
    currency: str = ""
    industry: str = ""
    channel: str = ""
    size: str = ""
    cohort_id: str = ""

    def api_params(self) -> dict[str, str]:
        """The non-empty parameters, as the API's query string takes them."""
        return {name: value for name, value in asdict(self).items() if value}


def load_report(
    session: Session,
    warehouse: Warehouse,
    settings: Settings,
    principal: Principal,
    form: ReportForm,
) -> dict[str, Any]:
    """The list-format envelope of ``GET /v1/reports/cohort`` for these parameters, from
    the API's own service (same parsing, limits and errors naming the parameter)."""
    params = ReportParams(**form.api_params(), format="list")
    return report_for(session, warehouse, principal, params, settings=settings)


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
