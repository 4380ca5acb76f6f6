"""``cohortd report``: the cohort retention report (SPEC §2) from the command line.

Reads the planes directly (no server needed; read-only) for one organization and mode,
with the same parameters as ``GET /v1/reports/cohort``.
"""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cohortd.api.deps import Principal
from cohortd.cli.output import console, emit_json, err_console
from cohortd.config import get_settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.errors import AppError, NotFound
from cohortd.keys.models import Role
from cohortd.keys.repository import get_organization
from cohortd.reports import service
from cohortd.warehouse import connect


class Mode(StrEnum):
    test = "test"
    live = "live"


class Output(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Metric(StrEnum):
    mrr = "mrr"
    customers = "customers"


Opt = typer.Option


def report(
    org: Annotated[str, Opt("--org", envvar="COHORTD_ORG", help="Organization id.")],
    mode: Annotated[Mode, Opt("--mode", help="test or live.")] = Mode.test,
    date: Annotated[str | None, Opt(help="Report date YYYY-MM-DD (default today, UTC).")] = None,
    interval: Annotated[str | None, Opt(help="day|week|month|quarter|year.")] = None,
    base_currency: Annotated[str | None, Opt("--base-currency", help="ISO 4217.")] = None,
    breakdown: Annotated[str | None, Opt(help="country or currency.")] = None,
    fix_fx: Annotated[bool, Opt("--fix-fx", help="Rates of each cohort's first day.")] = False,
    region: Annotated[str | None, Opt(help="Codes and region slugs, space-separated.")] = None,
    currency: Annotated[str | None, Opt(help="Billing currencies, space-separated.")] = None,
    industry: Annotated[str | None, Opt(help="Industries, space-separated.")] = None,
    channel: Annotated[str | None, Opt(help="Channels, space-separated.")] = None,
    size: Annotated[str | None, Opt(help="Company sizes, space-separated.")] = None,
    cohort_id: Annotated[str | None, Opt("--cohort-id", help="Only a cohort's members.")] = None,
    output: Annotated[Output, Opt("--format", help="table, json or csv.")] = Output.table,
    metric: Annotated[Metric, Opt(help="Table cells: mrr or customers retention.")] = Metric.mrr,
    as_json: Annotated[bool, Opt("--json", help="Same as --format json.")] = False,
) -> None:
    """Print the cohort retention triangle (cells shaded by retention)."""
    params = service.ReportParams(
        date=date,
        interval=interval,
        baseCurrency=base_currency,
        breakdown=breakdown,
        fix_fx="true" if fix_fx else None,
        region=region,
        currency=currency,
        industry=industry,
        channel=channel,
        size=size,
        cohort_id=cohort_id,
    )
    body = _compute(org, mode, params)
    match Output.json if as_json else output:
        case Output.json:
            emit_json(body)
        case Output.csv:
            print(to_csv(body), end="")
        case Output.table:
            console.print(triangle(body, metric, width=console.width))


def _compute(org: str, mode: Mode, params: service.ReportParams) -> dict[str, Any]:
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    warehouse = connect(settings.resolved_warehouse_url)
    try:
        with make_sessionmaker(engine)() as session:
            found = get_organization(session, org)
            if found is None:
                raise NotFound(f"No organization '{org}'.")
            caller = Principal(org, mode is Mode.live, Role.viewer, "cli", found.base_currency)
            return service.report_for(session, warehouse, caller, params, settings=settings)
    except AppError as error:
        err_console.print(f"[red]{error.title}[/red]: {error.detail}")
        raise typer.Exit(1) from None
    finally:
        warehouse.close()
        engine.dispose()


def to_csv(body: dict[str, Any]) -> str:
    """One line per (cohort_group, period) with the initial values repeated."""
    out = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for row in body["result"]["list"]:
        for k, values in enumerate(row["periods"]):
            line = {
                "cohort_group": row["cohort_group"],
                "initial_customers": row.get("initial_customers", ""),
                "initial_mrr": row.get("initial_mrr", ""),
                "period": k,
                **values,
            }
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(line), lineterminator="\n")
                writer.writeheader()
            writer.writerow(line)
    return out.getvalue()


def _shade(retention: float) -> str:
    """Red at 0 %, yellow at 50 %, green at 100 % and above."""
    level = max(0.0, min(retention, 100.0)) / 100
    red = int(200 * min(1.0, 2 * (1 - level)))
    green = int(160 * min(1.0, 2 * level))
    return f"black on rgb({red + 40},{green + 60},60)"


def triangle(
    body: dict[str, Any], metric: Metric = Metric.mrr, *, width: int | None = None
) -> Table:
    """The list-format body as a Rich table: one row per cohort, one column per period.

    With a ``width`` (the terminal's), only the periods that fit are drawn, never
    squeezed to nothing, and the caption says how many were left out and where to
    see them all."""
    rows = body["result"]["list"]
    longest = max((len(r["periods"]) for r in rows), default=0)
    field = "mrr_retention" if metric is Metric.mrr else "customer_retention"
    title = f"{field} by {body['interval']} ({body['currency']})"
    heads = ["cohort", "customers", f"MRR {body['currency']}"]
    firsts = [
        [
            row["cohort_group"],
            str(row.get("initial_customers", "")),
            f"{row['initial_mrr']:,.2f}" if "initial_mrr" in row else "",
        ]
        for row in rows
    ]
    shown = longest if width is None else _fitting(heads, firsts, rows, field, longest, width)
    caption = None
    if shown < longest:
        caption = (
            f"periods 0-{shown - 1} of 0-{longest - 1}: widen the terminal, or use"
            " --format csv or --format json for all of them"
        )
    table = Table(*heads, title=title, caption=caption)
    for k in range(shown):
        table.add_column(str(k), justify="right", no_wrap=True)
    for row, first in zip(rows, firsts, strict=True):
        cells: list[str | Text] = list(first)
        for values in row["periods"][:shown]:
            cells.append(Text(f"{values[field]:.1f}", style=_shade(values[field])))
        table.add_row(*cells)
    return table


def _fitting(
    heads: list[str],
    firsts: list[list[str]],
    rows: list[dict[str, Any]],
    field: str,
    longest: int,
    width: int,
) -> int:
    """How many period columns fit in ``width`` next to the first three (each column is
    its widest text, two spaces of padding and a border; at least one period)."""
    used = 1  # the left border
    for i, head in enumerate(heads):
        used += max([len(head), *(len(first[i]) for first in firsts)]) + 3
    shown = 0
    for k in range(longest):
        texts = [f"{r['periods'][k][field]:.1f}" for r in rows if len(r["periods"]) > k]
        used += max([len(str(k)), *map(len, texts)]) + 3
        if used > width and shown:
            break
        shown += 1
    return shown
