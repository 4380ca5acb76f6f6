"""``cohortd metrics``: the subscription metrics (SPEC §8) from the command line.

Reads the planes directly (no server needed; read-only) for one organization and mode,
with the same parameters as ``GET /v1/metrics``; ``--metric`` prints one series.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from cohortd.api.deps import Principal
from cohortd.cli.output import console, emit_json, err_console
from cohortd.config import get_settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.errors import AppError, NotFound
from cohortd.keys.models import Role
from cohortd.keys.repository import get_organization
from cohortd.metrics import service
from cohortd.warehouse import connect


class Mode(StrEnum):
    test = "test"
    live = "live"


class Output(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


Opt = typer.Option

# the table's columns and heads (every field is in --format json and csv)
TABLE_COLUMNS = {
    "mrr": "MRR",
    "customers": "customers",
    "net_new_mrr": "net new",
    "fx_impact": "FX",
    "customer_churn_rate": "churn %",
    "nrr": "NRR %",
    "quick_ratio": "quick",
}


def metrics(
    org: Annotated[str, Opt("--org", envvar="COHORTD_ORG", help="Organization id.")],
    mode: Annotated[Mode, Opt("--mode", help="test or live.")] = Mode.test,
    start_date: Annotated[str | None, Opt("--start-date", help="YYYY-MM-DD.")] = None,
    end_date: Annotated[str | None, Opt("--end-date", help="YYYY-MM-DD (default today).")] = None,
    interval: Annotated[str | None, Opt(help="day|week|month|quarter|year.")] = None,
    base_currency: Annotated[str | None, Opt("--base-currency", help="ISO 4217.")] = None,
    fix_fx: Annotated[bool, Opt("--fix-fx", help="Rates of the first period_start.")] = False,
    region: Annotated[str | None, Opt(help="Codes and region slugs, space-separated.")] = None,
    currency: Annotated[str | None, Opt(help="Billing currencies, space-separated.")] = None,
    industry: Annotated[str | None, Opt(help="Industries, space-separated.")] = None,
    channel: Annotated[str | None, Opt(help="Channels, space-separated.")] = None,
    size: Annotated[str | None, Opt(help="Company sizes, space-separated.")] = None,
    cohort_id: Annotated[str | None, Opt("--cohort-id", help="Only a cohort's members.")] = None,
    metric: Annotated[str | None, Opt(help="One series: any numeric field, e.g. mrr.")] = None,
    output: Annotated[Output, Opt("--format", help="table, json or csv.")] = Output.table,
    as_json: Annotated[bool, Opt("--json", help="Same as --format json.")] = False,
) -> None:
    """Print MRR, movements, churn rates, NRR and more, one row per period."""
    params = service.MetricsParams(
        start_date=start_date,
        end_date=end_date,
        interval=interval,
        baseCurrency=base_currency,
        fix_fx="true" if fix_fx else None,
        region=region,
        currency=currency,
        industry=industry,
        channel=channel,
        size=size,
        cohort_id=cohort_id,
    )
    body = _compute(org, mode, params, metric)
    match Output.json if as_json else output:
        case Output.json:
            emit_json(body)
        case Output.csv:
            print(service.as_csv(body), end="")
        case Output.table:
            console.print(to_table(body))


def _compute(
    org: str, mode: Mode, params: service.MetricsParams, metric: str | None
) -> dict[str, Any]:
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    warehouse = connect(settings.resolved_warehouse_url)
    try:
        with make_sessionmaker(engine)() as session:
            found = get_organization(session, org)
            if found is None:
                raise NotFound(f"No organization '{org}'.")
            caller = Principal(org, mode is Mode.live, Role.viewer, "cli", found.base_currency)
            name = service.parse_metric(metric) if metric is not None else None
            query, series = service.series_for(
                session, warehouse, caller, params, timeout_seconds=settings.query_timeout_seconds
            )
            if name is not None:
                return service.metric_body(name, query, series)
            return service.metrics_body(query, series)
    except AppError as error:
        err_console.print(f"[red]{error.title}[/red]: {error.detail}")
        raise typer.Exit(1) from None
    finally:
        warehouse.close()
        engine.dispose()


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def to_table(body: dict[str, Any]) -> Table:
    """A Rich table, one row per period (``--metric``: date, value, change)."""
    if body["object"] == "metric":
        table = Table(title=f"{body['metric']} by {body['interval']} ({body['currency']})")
        for head in ("date", body["metric"], "change %"):
            table.add_column(head, justify="right")
        for row in body["entries"]:
            table.add_row(row["date"], _cell(row["value"]), _cell(row["percentage_change"]))
        return table
    table = Table(title=f"Metrics by {body['interval']} ({body['currency']})")
    table.add_column("date", justify="right", no_wrap=True)
    for head in TABLE_COLUMNS.values():
        table.add_column(head, justify="right", no_wrap=True)
    for row in body["entries"]:
        date = row["date"] + ("" if row["complete"] else " *")
        table.add_row(date, *(_cell(row[name]) for name in TABLE_COLUMNS))
    if any(not row["complete"] for row in body["entries"]):
        table.caption = "* period not over yet"
    return table
