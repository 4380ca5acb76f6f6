"""``cohortd import`` and ``cohortd fx import``: load files into one organization and mode.

With no server running, the CLI opens the warehouse itself. DuckDB lets only one process
write its file, so when ``cohortd serve`` runs on the embedded default (it writes
``server.json`` into the data dir), the CLI sends the files through the server's
``POST /v1/imports`` instead, with ``--api-key`` / ``COHORTD_API_KEY`` or, if none is
given, a developer key it issues for the run and revokes afterwards.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cohortd.cli.output import console, emit_json, err_console
from cohortd.config import Settings, get_settings
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import OnError
from cohortd.warehouse.server_file import ServerInfo, read_server_file

fx_app = typer.Typer(help="The organization's own exchange rates.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization id (org_...).")]
ModeOption = Annotated[str, typer.Option("--mode", help="test or live.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the import job as JSON.")]
KeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="COHORTD_API_KEY", help="Key used when a server is running."),
]
FileOption = Annotated[Path | None, typer.Option(exists=True, dir_okay=False, readable=True)]
_TERMINAL = ("succeeded", "failed")


class CliFailure(Exception):
    """A clear, user-facing reason the command cannot run."""


def register(app: typer.Typer) -> None:
    """Add ``import`` and the ``fx`` group to the main ``cohortd`` command."""
    app.command("import")(import_command)
    app.add_typer(fx_app, name="fx")


def import_command(
    org: OrgOption,
    mode: ModeOption = "test",
    customers: Annotated[
        Path | None, typer.Option("--customers", exists=True, dir_okay=False)
    ] = None,
    subscriptions: Annotated[
        Path | None, typer.Option("--subscriptions", exists=True, dir_okay=False)
    ] = None,
    fx: Annotated[Path | None, typer.Option("--fx", exists=True, dir_okay=False)] = None,
    on_error: Annotated[OnError, typer.Option("--on-error", help="abort or skip")] = OnError.abort,
    as_json: JsonOption = False,
    api_key: KeyOption = None,
) -> None:
    """Import customers, subscriptions and exchange rates (CSV, Parquet, JSON Lines, gzip)."""
    files = {
        ImportKind.customers: customers,
        ImportKind.subscriptions: subscriptions,
        ImportKind.exchange_rates: fx,
    }
    given = {kind: path for kind, path in files.items() if path is not None}
    if not given:
        _fail("give at least one of --customers, --subscriptions, --fx", as_json)
    _run(org, mode, given, on_error, as_json=as_json, api_key=api_key)


@fx_app.command("import")
def fx_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="date,currency,rate")],
    org: OrgOption,
    mode: ModeOption = "test",
    as_json: JsonOption = False,
    api_key: KeyOption = None,
) -> None:
    """Import exchange rates (units of currency per 1 EUR), upserting on (date, currency)."""
    _run(
        org,
        mode,
        {ImportKind.exchange_rates: file},
        OnError.abort,
        as_json=as_json,
        api_key=api_key,
    )


def _run(
    org: str,
    mode: str,
    files: dict[ImportKind, Path],
    on_error: OnError,
    *,
    as_json: bool,
    api_key: str | None,
) -> None:
    if mode not in ("test", "live"):
        _fail("--mode must be test or live", as_json)
    livemode = mode == "live"
    settings = get_settings()
    server = read_server_file(settings.data_dir)
    routed = server is not None and settings.resolved_warehouse_url.startswith("duckdb")
    show = not as_json and sys.stderr.isatty()
    try:
        if routed:
            assert server is not None
            job = _through_server(server, settings, org, livemode, files, on_error, api_key, show)
        else:
            job = import_into_warehouse(settings, org, livemode, files, on_error, show)
    except CliFailure as failure:
        _fail(str(failure), as_json)
    _print(job, as_json)
    if job["status"] != "succeeded":
        raise typer.Exit(1)


def import_into_warehouse(
    settings: Settings,
    org: str,
    livemode: bool,
    files: dict[ImportKind, Path],
    on_error: OnError,
    show: bool,
) -> dict[str, Any]:
    """Import ``files`` straight into the warehouse (no server holds it) as a recorded job."""
    from cohortd.db import make_engine, make_sessionmaker
    from cohortd.db.migrate import upgrade
    from cohortd.imports import service
    from cohortd.keys.models import Organization
    from cohortd.warehouse import Scope

    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    sources = [ImportSource(kind, path, path.name) for kind, path in files.items()]
    try:
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            if session.get(Organization, org) is None:
                raise CliFailure(f"no organization '{org}' (see `cohortd orgs create`)")
        warehouse = _open_warehouse(settings)
        try:
            with sessions.begin() as session:
                job_id = service.create_job(
                    session,
                    Scope(org, livemode),
                    files={s.kind: s.name for s in sources},
                    on_error=on_error,
                ).id
            with _progress(show) as shown:
                job = service.run_job(
                    sessions,
                    warehouse,
                    job_id,
                    sources,
                    progress=shown.advance,
                    preparing=shown.preparing,
                    backfill_days=settings.events_backfill_days,
                )
            return service.job_out(job).model_dump(mode="json")
        finally:
            warehouse.close()
    finally:
        engine.dispose()


def _open_warehouse(settings: Settings) -> Any:
    import duckdb

    from cohortd.warehouse import connect

    try:
        return connect(settings.resolved_warehouse_url)
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        raise CliFailure(
            "the DuckDB warehouse is open in another process and no running cohortd server "
            f"is recorded in {settings.data_dir}; stop that process, or run `cohortd serve` "
            "with this data dir so that the CLI can import through it"
        ) from None


class _progress:
    """A Rich progress display on a terminal (rows read per file, then the preparation
    of the derived tables); no-op callbacks otherwise."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.stack = ExitStack()
        self.tasks: dict[ImportKind, Any] = {}
        self.read: dict[ImportKind, int] = {}
        self.bar: Progress | None = None

    def __enter__(self) -> _progress:
        if self.show:
            self.bar = self.stack.enter_context(
                Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TextColumn("{task.fields[rows]}"),
                    TimeElapsedColumn(),
                    console=err_console,
                    transient=True,
                )
            )
        return self

    def advance(self, kind: ImportKind, rows: int) -> None:
        if self.bar is None:
            return
        if kind not in self.tasks:
            self.tasks[kind] = self.bar.add_task(f"reading {kind.value}", total=None, rows="")
        self.read[kind] = self.read.get(kind, 0) + rows
        self.bar.update(self.tasks[kind], advance=rows, rows=f"{self.read[kind]:,} rows")

    def preparing(self) -> None:
        if self.bar is None:
            return
        for task in self.tasks.values():  # the reading is over
            self.bar.stop_task(task)
        self.bar.add_task("preparing reports (derived tables)", total=None, rows="")

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


def _through_server(
    server: ServerInfo,
    settings: Settings,
    org: str,
    livemode: bool,
    files: dict[ImportKind, Path],
    on_error: OnError,
    api_key: str | None,
    show: bool,
) -> dict[str, Any]:
    import httpx

    with ExitStack() as stack:
        key = api_key or stack.enter_context(_temporary_key(settings, org, livemode))
        headers = {"Authorization": f"Bearer {key}"}
        handles = {
            kind.value: (path.name, stack.enter_context(path.open("rb")))
            for kind, path in files.items()
        }
        with httpx.Client(base_url=server.url, timeout=None) as client:
            if show:
                err_console.print(f"sending the files to the cohortd server at {server.url}")
            try:
                answer = client.post(
                    "/v1/imports", headers=headers, files=handles, data={"on_error": on_error.value}
                )
            except httpx.HTTPError as error:
                raise CliFailure(f"the server at {server.url} did not answer: {error}") from None
            if answer.status_code != 202:
                raise CliFailure(
                    f"the server refused the import ({answer.status_code}): {answer.text}"
                )
            job: dict[str, Any] = answer.json()
            while job["status"] not in _TERMINAL:
                time.sleep(0.2)
                job = client.get(f"/v1/imports/{job['id']}", headers=headers).json()
            return job


class _temporary_key:
    """A developer key for this run only, revoked when the run ends."""

    def __init__(self, settings: Settings, org: str, livemode: bool) -> None:
        self.settings, self.org, self.livemode = settings, org, livemode
        self.key_id: str | None = None

    def __enter__(self) -> str:
        from cohortd.db import make_engine, make_sessionmaker
        from cohortd.keys import service
        from cohortd.keys.models import Organization, Role

        self.engine = make_engine(self.settings.resolved_database_url)
        self.sessions = make_sessionmaker(self.engine)
        with self.sessions.begin() as session:
            if session.get(Organization, self.org) is None:
                raise CliFailure(f"no organization '{self.org}' (see `cohortd orgs create`)")
            issued = service.issue_key(
                session,
                org_id=self.org,
                livemode=self.livemode,
                role=Role.developer,
                name="cohortd import (temporary)",
            )
            self.key_id = issued.key.id
            return issued.secret

    def __exit__(self, *exc: object) -> None:
        from cohortd.keys import service

        try:
            if self.key_id is not None:
                with self.sessions.begin() as session:
                    service.revoke_key(
                        session, org_id=self.org, livemode=self.livemode, key_id=self.key_id
                    )
        finally:
            self.engine.dispose()


def _print(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(job)
        return
    console.print(f"import {job['id']}: [bold]{job['status']}[/bold]")
    if job["counts"]:
        table = Table("kind", "inserted", "updated", "unchanged", "skipped")
        for kind, counts in job["counts"].items():
            table.add_row(
                kind, *(str(counts[k]) for k in ("inserted", "updated", "unchanged", "skipped"))
            )
        console.print(table)
    if job["errors"]:
        problems = Table(
            "file", "row", "column", "value", "reason", title=f"{job['error_count']} problem(s)"
        )
        for p in job["errors"]:
            problems.add_row(
                *(
                    str(p[k]) if p[k] is not None else ""
                    for k in ("file", "row", "column", "value", "reason")
                )
            )
        console.print(problems)


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        emit_json({"status": "error", "message": message})
    else:
        err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)
