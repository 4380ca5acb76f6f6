"""``cohortd subscriptions cancel|pause|resume|change-plan``: the admin overrides (SPEC §9).

Through the running server when one holds the embedded DuckDB file (``--api-key`` /
``COHORTD_API_KEY``, or a temporary developer key), else on the planes directly.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from cohortd.cli.cohorts import JsonOption, Mode, ModeOption, OrgOption
from cohortd.cli.imports import CliFailure, _temporary_key
from cohortd.cli.output import console, emit_json, err_console
from cohortd.config import get_settings
from cohortd.errors import AppError
from cohortd.subscriptions.rules import OverrideKind
from cohortd.subscriptions.schemas import CancelBody, ChangePlanBody, PauseBody, ResumeBody
from cohortd.warehouse import Scope
from cohortd.warehouse.server_file import read_server_file

app = typer.Typer(help="Override subscription rows (cancel, pause, resume, change plan).")

RowArgument = Annotated[str, typer.Argument(help="The subscription row id.")]
DayOption = Annotated[
    datetime | None,
    typer.Option("--effective-date", formats=["%Y-%m-%d"], help="[default: today, UTC]"),
]
KeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="COHORTD_API_KEY", help="Key used when a server is running."),
]


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value is not None else None


@app.command()
def cancel(
    subscription_id: RowArgument,
    org: OrgOption,
    mode: ModeOption = Mode.test,
    effective_date: DayOption = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """End the row on the effective date."""
    body = {"effective_date": _day(effective_date)}
    _override(org, mode, subscription_id, OverrideKind.cancel, body, api_key, as_json)


@app.command()
def pause(
    subscription_id: RowArgument,
    org: OrgOption,
    mode: ModeOption = Mode.test,
    effective_date: DayOption = None,
    resume_date: Annotated[
        datetime | None, typer.Option("--resume-date", formats=["%Y-%m-%d"])
    ] = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pause the row from the effective date (to --resume-date, or on)."""
    body = {"effective_date": _day(effective_date), "resume_date": _day(resume_date)}
    _override(org, mode, subscription_id, OverrideKind.pause, body, api_key, as_json)


@app.command()
def resume(
    subscription_id: RowArgument,
    org: OrgOption,
    mode: ModeOption = Mode.test,
    effective_date: DayOption = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """End a paused row on the effective date; the plan before the pause runs again."""
    body = {"effective_date": _day(effective_date)}
    _override(org, mode, subscription_id, OverrideKind.resume, body, api_key, as_json)


@app.command("change-plan")
def change_plan(
    subscription_id: RowArgument,
    org: OrgOption,
    plan: Annotated[str, typer.Option("--plan", help="The new plan id.")],
    mrr: Annotated[str, typer.Option("--mrr", help="The new MRR, major units (49.90).")],
    mode: ModeOption = Mode.test,
    currency: Annotated[str | None, typer.Option(help="[default: the row's]")] = None,
    effective_date: DayOption = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """End the row on the effective date; the new plan and MRR run from it."""
    body = {
        "effective_date": _day(effective_date),
        "plan_id": plan,
        "mrr": mrr,
        "currency": currency,
    }
    _override(org, mode, subscription_id, OverrideKind.change_plan, body, api_key, as_json)


_BODIES: dict[OverrideKind, Any] = {
    OverrideKind.cancel: CancelBody,
    OverrideKind.pause: PauseBody,
    OverrideKind.resume: ResumeBody,
    OverrideKind.change_plan: ChangePlanBody,
}


def _override(
    org: str,
    mode: Mode,
    subscription_id: str,
    kind: OverrideKind,
    body: dict[str, Any],
    api_key: str | None,
    as_json: bool,
) -> None:
    given = {name: value for name, value in body.items() if value is not None}
    settings = get_settings()
    server = read_server_file(settings.data_dir)
    try:
        if server is not None and settings.resolved_warehouse_url.startswith("duckdb"):
            answer = _through_server(server.url, org, mode, subscription_id, kind, given, api_key)
        else:
            answer = _on_the_planes(org, mode, subscription_id, kind, given)
    except CliFailure as failure:
        err_console.print(f"[red]error[/red]: {failure}")
        raise typer.Exit(1) from None
    if as_json:
        emit_json(answer)
        return
    table = Table("id", "plan", "currency", "mrr", "start", "end", "status")
    for row in answer["data"]:
        table.add_row(
            row["id"],
            row["plan_id"] or "",
            row["currency"],
            row["mrr"],
            str(row["start_date"]),
            str(row["end_date"] or ""),
            row["status"] or "",
        )
    console.print(f"subscriber {answer['customer_id']}: rows after the change")
    console.print(table)


def _on_the_planes(
    org: str, mode: Mode, subscription_id: str, kind: OverrideKind, given: dict[str, Any]
) -> dict[str, Any]:
    from cohortd.subscriptions import service
    from cohortd.warehouse import connect

    warehouse = connect(get_settings().resolved_warehouse_url)
    try:
        rows = service.override(
            warehouse, Scope(org, mode.livemode), subscription_id, kind, _BODIES[kind](**given)
        )
    except AppError as error:
        problems = "; ".join(f"{e.loc[-1]}: {e.msg}" for e in error.errors)
        raise CliFailure(f"{error.detail}{' (' + problems + ')' if problems else ''}") from None
    finally:
        warehouse.close()
    return rows.model_dump(mode="json")


def _through_server(
    url: str,
    org: str,
    mode: Mode,
    subscription_id: str,
    kind: OverrideKind,
    given: dict[str, Any],
    api_key: str | None,
) -> dict[str, Any]:
    import httpx

    with ExitStack() as stack:
        key = api_key or stack.enter_context(_temporary_key(get_settings(), org, mode.livemode))
        answer = httpx.post(
            f"{url}/v1/subscriptions/{subscription_id}/{kind.value}",
            json=given,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
    if answer.status_code != 200:
        problem = answer.json()
        problems = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in problem.get("errors", []))
        raise CliFailure(f"{problem.get('detail')}{' (' + problems + ')' if problems else ''}")
    result: dict[str, Any] = answer.json()
    return result
