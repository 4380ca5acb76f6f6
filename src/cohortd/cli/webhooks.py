"""``cohortd destinations``, ``cohortd events`` and ``cohortd worker`` (SPEC §7).

Destinations and events live in the control plane only, so these commands open just
that (no warehouse), for one organization (``--org`` or ``COHORTD_ORG``) in one mode.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.orm import Session

from cohortd.api.paging import PageParams
from cohortd.cli.cohorts import JsonOption, Mode, ModeOption, OrgOption
from cohortd.cli.output import console, emit_json, err_console
from cohortd.config import get_settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.errors import AppError
from cohortd.events import service as events
from cohortd.warehouse import Scope
from cohortd.webhooks import schemas, service
from cohortd.webhooks.models import PiiMode

destinations_app = typer.Typer(help="Webhook destinations.", no_args_is_help=True)
events_app = typer.Typer(help="The event log.", no_args_is_help=True)

T = TypeVar("T")


@contextmanager
def _control() -> Iterator[Session]:
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


def _run(action: Callable[[Session], T]) -> T:
    try:
        with _control() as session:
            return action(session)
    except AppError as error:
        err_console.print(f"[red]{error.title}[/red]: {error.detail}")
        for problem in error.errors:
            err_console.print(f"  {'.'.join(str(p) for p in problem.loc)}: {problem.msg}")
        raise typer.Exit(1) from None


def _print_destinations(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "url", "event types", "pii", "disabled")
    for row in rows:
        table.add_row(
            row["id"],
            row["url"],
            ", ".join(row["event_types"] or ["(all)"]),
            row["pii_mode"],
            row["disabled_reason"] or ("yes" if row["disabled"] else "no"),
        )
    console.print(table)


@destinations_app.command("create")
def create(
    url: Annotated[str, typer.Argument(help="The receiver's URL.")],
    org: OrgOption,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--event-type", help="Repeatable; 'family.*' allowed. Default: all."),
    ] = None,
    pii_mode: Annotated[
        PiiMode, typer.Option(help="What of the subscriber is sent.")
    ] = PiiMode.full,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """Register a destination; its signing secret is printed this once."""
    try:
        body = schemas.DestinationCreate(
            url=url, event_types=event_type or None, pii_mode=pii_mode, description=description
        )
    except ValidationError as error:
        raise typer.BadParameter(str(error)) from None
    settings = get_settings()
    scope = Scope(org, mode.livemode)

    def act(session: Session) -> dict[str, Any]:
        row, secret = service.create_destination(session, scope, body, settings=settings)
        return service.destination_out(row).model_dump(mode="json") | {"signing_secret": secret}

    created = _run(act)
    if as_json:
        emit_json(created)
        return
    _print_destinations([created])
    console.print(f"signing secret (shown once): {created['signing_secret']}")


@destinations_app.command("list")
def list_destinations(
    org: OrgOption, mode: ModeOption = Mode.test, as_json: JsonOption = False
) -> None:
    """The destinations of one organization and mode (never their secrets)."""
    scope = Scope(org, mode.livemode)
    found = _run(
        lambda s: [
            service.destination_out(d).model_dump(mode="json")
            for d in service.list_destinations(s, scope, PageParams(limit=100)).items
        ]
    )
    if as_json:
        emit_json({"data": found})
    else:
        _print_destinations(found)


@destinations_app.command("rotate")
def rotate(
    destination_id: Annotated[str, typer.Argument(help="The destination's id.")],
    org: OrgOption,
    grace_hours: Annotated[
        int, typer.Option(min=0, max=168, help="Hours the old secret keeps signing too.")
    ] = 24,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """A new signing secret (printed once); the old one signs too during the grace."""
    settings = get_settings()
    scope = Scope(org, mode.livemode)

    def act(session: Session) -> dict[str, Any]:
        row, secret = service.rotate_secret(
            session, scope, destination_id, grace_hours=grace_hours, settings=settings
        )
        return service.destination_out(row).model_dump(mode="json") | {"signing_secret": secret}

    rotated = _run(act)
    if as_json:
        emit_json(rotated)
    else:
        console.print(f"new signing secret (shown once): {rotated['signing_secret']}")


@destinations_app.command("delete")
def delete(
    destination_id: Annotated[str, typer.Argument(help="The destination's id.")],
    org: OrgOption,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """Delete a destination and its pending deliveries."""
    scope = Scope(org, mode.livemode)
    row_id = _run(lambda s: service.delete_destination(s, scope, destination_id).id)
    if as_json:
        emit_json({"id": row_id, "deleted": True})
    else:
        console.print(f"deleted {row_id}")


@events_app.command("list")
def list_events(
    org: OrgOption,
    event_type: Annotated[
        list[str] | None, typer.Option("--type", help="Repeatable; 'family.*' allowed.")
    ] = None,
    subscriber_id: Annotated[str | None, typer.Option("--subscriber", help="One customer.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
    mode: ModeOption = Mode.test,
    as_json: JsonOption = False,
) -> None:
    """The newest events of one organization and mode."""
    found = _run(
        lambda s: [
            events.as_json(e)
            for e in events.list_events(
                s,
                org_id=org,
                livemode=mode.livemode,
                page=PageParams(limit=limit),
                types=event_type,
                subscriber_id=subscriber_id,
            ).items
        ]
    )
    if as_json:
        emit_json({"data": found})
        return
    table = Table("id", "type", "created", "subscriber")
    for event in found:
        table.add_row(
            event["id"],
            event["type"],
            event["created_at"],
            (event["subscriber"] or {}).get("id", "-"),
        )
    console.print(table)


def worker() -> None:
    """Deliver webhooks (run any number; with COHORTD_DELIVERY=external on the server)."""
    from cohortd.webhooks.delivery import DeliveryLoop

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    loop = DeliveryLoop(make_sessionmaker(engine), settings)

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(signum, stop.set)
        console.print(f"cohortd worker {loop.worker_id}: delivering webhooks (Ctrl+C stops)")
        await loop.run(stop)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(destinations_app, name="destinations")
    app.add_typer(events_app, name="events")
    app.command("worker")(worker)
