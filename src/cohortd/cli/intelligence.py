"""``cohortd snapshot``, ``cohortd anomalies`` and ``cohortd cohorts curve``.

Work on the planes directly (no server needed) for one organization (``--org`` or
``COHORTD_ORG``) and one mode (``--mode test|live``, default test).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.orm import Session

from cohortd.cli.output import console, emit_json, err_console
from cohortd.cli.planes import open_planes
from cohortd.errors import AppError, NotFound
from cohortd.intelligence import jobs, repository, runs, service
from cohortd.intelligence.models import Anomaly
from cohortd.intelligence.service import Caller
from cohortd.warehouse import Warehouse

T = TypeVar("T")


class Mode(StrEnum):
    test = "test"
    live = "live"


OrgOption = Annotated[
    str, typer.Option("--org", envvar="COHORTD_ORG", help="Organization id (or COHORTD_ORG).")
]
ModeOption = Annotated[Mode, typer.Option("--mode", help="test or live.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _run(org: str, mode: Mode, action: Callable[[Session, Warehouse, Caller], T]) -> T:
    """Run ``action`` for the organization; expected failures print and exit 1."""
    try:
        with open_planes() as (session, warehouse):
            found = repository.organization(session, org)
            if found is None:
                raise NotFound(f"No organization '{org}'.")
            caller = Caller(org, mode is Mode.live, found.base_currency)
            return action(session, warehouse, caller)
    except AppError as error:
        err_console.print(f"[red]{error.title}[/red]: {error.detail}")
        for problem in error.errors:
            err_console.print(f"  {'.'.join(str(p) for p in problem.loc)}: {problem.msg}")
        raise typer.Exit(1) from None


def _print_anomalies(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "cohort", "type", "severity", "period", "value", "threshold")
    for a in rows:
        table.add_row(
            a["id"], a["cohort_id"], a["type"], a["severity"], a["period"],
            f"{a['value']}", f"{a['threshold']}",
        )  # fmt: skip
    console.print(table)


def snapshot(org: OrgOption, mode: ModeOption = Mode.test, as_json: JsonOption = False) -> None:
    """Record a snapshot run of every cohort now and detect anomalies (waits for it)."""
    view = _run(org, mode, lambda s, w, c: record_with_progress(w, c, show=not as_json))
    if as_json:
        emit_json(view)
    elif view["status"] != "succeeded":
        err_console.print(f"run {view['id']}: {view['status']} {view['error'] or ''}".rstrip())
    else:
        console.print(
            f"run {view['id']}: {view['cohort_count']} cohorts recorded, "
            f"{view['anomaly_count']} new anomalies"
        )
        if view["anomalies"]:
            _print_anomalies(view["anomalies"])
    if view["status"] != "succeeded":
        raise typer.Exit(1)


def record_with_progress(
    warehouse: Warehouse, caller: Caller, *, show: bool, trigger: str = "cli"
) -> dict[str, Any]:
    """Run a snapshot job here, a progress bar on stderr; its view once it ended (or the
    view of the run already in flight for the organization and mode)."""
    from cohortd.config import get_settings
    from cohortd.db import make_engine, make_sessionmaker

    engine = make_engine(get_settings().resolved_database_url)
    sessions = make_sessionmaker(engine)
    try:
        with Progress(console=err_console, transient=True, disable=not show) as bar:
            task = bar.add_task("snapshot run", total=len(runs.STEPS))

            def advance(step: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=f"snapshot run: {step}")

            started = jobs.record(sessions, warehouse, caller, trigger=trigger, progress=advance)
        with sessions() as session:
            (view,) = jobs.views(session, [started.run])
        return view
    finally:
        engine.dispose()


def anomalies(
    org: OrgOption,
    mode: ModeOption = Mode.test,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most recent N.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List the stored anomalies, most recent last."""

    def collect(session: Session, _: Warehouse, caller: Caller) -> list[dict[str, Any]]:
        stmt = repository.anomalies_query(org_id=caller.org_id, livemode=caller.livemode)
        rows = list(session.scalars(stmt.order_by(Anomaly.id.desc()).limit(limit)))
        return [runs.anomaly_view(r) for r in reversed(rows)]

    found = _run(org, mode, collect)
    if as_json:
        emit_json(found)
    else:
        _print_anomalies(found)


def curve(
    cohort_id: Annotated[str, typer.Argument(help="cohort_...")],
    org: OrgOption,
    mode: ModeOption = Mode.test,
    months: Annotated[int, typer.Option(min=0, max=600, help="Last month index.")] = 36,
    base_currency: Annotated[
        str | None, typer.Option("--base-currency", help="ISO 4217 [default: the org's]")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The cohort's vintage curve: months since each member's first paid month, pooled."""
    body = _run(
        org,
        mode,
        lambda s, w, c: service.cohort_curve(
            s, w, c, cohort_id, months=months, base_currency=base_currency
        ),
    )
    if as_json:
        emit_json(body)
        return
    table = Table("month", "mature", "customers", "MRR", "MRR %", "GRR %", "complete")
    for p in body["periods"]:
        table.add_row(
            str(p["month"]), str(p["mature_customers"]), str(p["customers_retained"]),
            f"{p['mrr_retained']:,.2f}", f"{p['mrr_retention']:.2f}",
            f"{p['mrr_retention_gross']:.2f}", "yes" if p["complete"] else "no",
        )  # fmt: skip
    console.print(f"{cohort_id}: {body['initial_customers']} customers, {body['currency']}")
    console.print(table)


def register(app: typer.Typer, cohorts_app: typer.Typer) -> None:
    """``cohortd snapshot``, ``cohortd anomalies`` and ``cohortd cohorts curve``."""
    app.command("snapshot")(snapshot)
    app.command("anomalies")(anomalies)
    cohorts_app.command("curve")(curve)
