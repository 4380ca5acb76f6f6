"""``cohortd cohorts``: create, list, show, list members of and delete cohorts.

Works on the planes directly (no server needed), for one organization (``--org`` or
``COHORTD_ORG``) in one mode (``--mode test|live``, default test).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.orm import Session

from cohortd.api.paging import PageParams
from cohortd.cli.output import console, emit_json, err_console
from cohortd.cli.planes import open_planes
from cohortd.cohorts import service
from cohortd.cohorts.schemas import Cohort, CohortCreate, CohortType
from cohortd.errors import AppError
from cohortd.warehouse import Scope, Warehouse

app = typer.Typer(help="Manage cohorts and list their members.", no_args_is_help=True)

T = TypeVar("T")


class Mode(StrEnum):
    """The data mode, as the other command groups spell it."""

    test = "test"
    live = "live"

    @property
    def livemode(self) -> bool:
        return self is Mode.live


OrgOption = Annotated[
    str, typer.Option("--org", envvar="COHORTD_ORG", help="Organization id (or COHORTD_ORG).")
]
ModeOption = Annotated[Mode, typer.Option("--mode", help="test or live.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="Membership as of this day. [default: today, UTC]"
    ),
]


def _run(action: Callable[[Session, Warehouse], T]) -> T:
    """Run ``action`` on the planes; expected failures print their detail and exit 1."""
    try:
        with open_planes() as (session, warehouse):
            return action(session, warehouse)
    except AppError as error:
        err_console.print(f"[red]{error.title}[/red]: {error.detail}")
        for problem in error.errors:
            err_console.print(f"  {'.'.join(str(p) for p in problem.loc)}: {problem.msg}")
        raise typer.Exit(1) from None


def _day(as_of: datetime | None) -> date | None:
    return as_of.date() if as_of is not None else None


def _print_cohorts(cohorts: list[Cohort]) -> None:
    table = Table("id", "name", "type", "members", "as of", "used by motions")
    for cohort in cohorts:
        table.add_row(
            cohort.id,
            cohort.name,
            cohort.cohort_type.value,
            f"{cohort.member_count:,}",
            cohort.as_of,
            ", ".join(cohort.used_by_motions) or "-",
        )
    console.print(table)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Display name, 1-200 characters.")],
    org: OrgOption,
    definition: Annotated[
        str, typer.Option(help="The definition as JSON, or @path to a JSON file.")
    ] = "{}",
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """Create a custom cohort from a definition (SPEC §3)."""
    text = Path(definition[1:]).read_text() if definition.startswith("@") else definition
    try:
        body = CohortCreate(name=name, description=description, definition=json.loads(text))
    except (ValidationError, json.JSONDecodeError) as error:
        raise typer.BadParameter(str(error), param_hint="--definition / NAME") from None
    scope = Scope(org, mode.livemode)
    created = _run(
        lambda s, w: service.views(s, w, scope, [service.create_cohort(s, scope, body)])[0]
    )
    _emit_one(created, as_json)


@app.command("list")
def list_cohorts(
    org: OrgOption,
    cohort_type: Annotated[
        CohortType | None, typer.Option("--type", help="Only this type.")
    ] = None,
    as_of: AsOfOption = None,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """List every cohort with its exact member count."""
    scope = Scope(org, mode.livemode)

    def collect(session: Session, warehouse: Warehouse) -> list[Cohort]:
        found: list[Cohort] = []
        cursor: str | None = None
        while True:
            page = service.list_cohort_rows(
                session,
                scope,
                PageParams(limit=100, starting_after=cursor),
                cohort_type=cohort_type,
            )
            found += service.views(session, warehouse, scope, page.items, as_of=_day(as_of))
            if not page.has_more:
                return found
            cursor = page.next_cursor

    cohorts = _run(collect)
    if as_json:
        emit_json([c.model_dump(mode="json") for c in cohorts])
    else:
        _print_cohorts(cohorts)


@app.command("show")
def show(
    cohort_id: Annotated[str, typer.Argument(help="cohort_...")],
    org: OrgOption,
    as_of: AsOfOption = None,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """Show one cohort, its definition and exact member count."""
    scope = Scope(org, mode.livemode)
    cohort = _run(
        lambda s, w: service.views(
            s, w, scope, [service.get_cohort_row(s, scope, cohort_id)], as_of=_day(as_of)
        )[0]
    )
    _emit_one(cohort, as_json)


@app.command("members")
def members(
    cohort_id: Annotated[str, typer.Argument(help="cohort_...")],
    org: OrgOption,
    as_of: AsOfOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Members per page.")] = 50,
    starting_after: Annotated[
        str | None, typer.Option(help="Cursor: members after this id.")
    ] = None,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """List one page of a cohort's members (as subscribers)."""
    scope = Scope(org, mode.livemode)
    page = _run(
        lambda s, w: service.members_page(
            s, w, scope, cohort_id, PageParams(limit=limit, starting_after=starting_after),
            as_of=_day(as_of),
        )
    )  # fmt: skip
    if as_json:
        emit_json(
            {
                "object": "list",
                "data": [m.model_dump(mode="json") for m in page.items],
                "has_more": page.has_more,
                "next_cursor": page.next_cursor,
            }
        )
        return
    table = Table("id", "status", "plan", "mrr", "currency", "country")
    for member in page.items:
        table.add_row(
            member.id, member.status or "-", member.plan_id or "-", member.mrr or "-",
            member.currency or "-", member.country or "-",
        )  # fmt: skip
    console.print(table)
    if page.has_more:
        console.print(f"more: --starting-after {page.next_cursor}")


@app.command("delete")
def delete(
    cohort_id: Annotated[str, typer.Argument(help="cohort_...")],
    org: OrgOption,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """Delete a cohort (refused while an active motion uses it)."""
    scope = Scope(org, mode.livemode)
    row = _run(lambda s, w: service.delete_cohort(s, scope, cohort_id))
    result: dict[str, Any] = {
        "id": row.id,
        "object": "cohort",
        "livemode": row.livemode,
        "deleted": True,
    }
    if as_json:
        emit_json(result)
    else:
        console.print(f"deleted {row.id}")


def _emit_one(cohort: Cohort, as_json: bool) -> None:
    if as_json:
        emit_json(cohort.model_dump(mode="json"))
        return
    _print_cohorts([cohort])
    given = {k: v for k, v in cohort.definition.model_dump(mode="json").items() if v is not None}
    console.print_json(json.dumps(given))
