"""``cohortd demo``: the README's first command.

Sets up the embedded default (SQLite + DuckDB in the data dir), creates a demo
organization with realistic generated data in test mode (once; later runs reuse it),
generates its auto cohorts and records a first snapshot run (so that the dashboard's
Cohorts, Compare and Anomalies pages have content at once), issues a fresh test key,
prints it with a working ``curl``, and serves on localhost.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from cohortd.cli.imports import import_into_warehouse
from cohortd.cli.output import console, emit_json, err_console
from cohortd.config import DEMO_FILE, Settings, demo_org_id, get_settings
from cohortd.imports.columns import ImportKind
from cohortd.imports.pipeline import OnError
from cohortd.warehouse.server_file import read_server_file


def _demo_org(settings: Settings) -> str | None:
    from cohortd.db import make_engine, make_sessionmaker
    from cohortd.keys.models import Organization

    org_id = demo_org_id(settings)
    if org_id is None:
        return None
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return org_id if session.get(Organization, org_id) is not None else None
    finally:
        engine.dispose()


def _create_demo(settings: Settings, *, customers: int, seed: int, show: bool) -> str:
    from cohortd.cli.orgs import create_org_with_keys
    from cohortd.demo.generator import DemoConfig, write_demo_data

    org = create_org_with_keys("Demo Company", "USD")
    out = settings.data_dir / "demo-data"
    if show:
        err_console.print(f"generating {customers:,} demo customers into {out} ...")
    files = write_demo_data(out, DemoConfig(customers=customers, seed=seed))
    job = import_into_warehouse(
        settings,
        str(org["id"]),
        False,
        {
            ImportKind.customers: files.customers_path,
            ImportKind.subscriptions: files.subscriptions_path,
        },
        OnError.abort,
        show,
    )
    if job["status"] != "succeeded":
        raise RuntimeError(f"the demo import failed: {job.get('errors')}")
    _record_intelligence(settings, str(org["id"]), show=show)
    (settings.data_dir / DEMO_FILE).write_text(json.dumps({"org_id": org["id"]}))
    return str(org["id"])


def _record_intelligence(settings: Settings, org_id: str, *, show: bool) -> None:
    """The demo's auto cohorts (Pillar's definitions) and a first snapshot run."""
    from cohortd.cli.intelligence import record_with_progress
    from cohortd.db import make_engine, make_sessionmaker
    from cohortd.intelligence import definitions, repository
    from cohortd.intelligence.service import Caller
    from cohortd.warehouse import connect

    engine = make_engine(settings.resolved_database_url)
    warehouse = connect(settings.resolved_warehouse_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            org = repository.organization(session, org_id)
            assert org is not None
            caller = Caller(org_id, False, org.base_currency)
            made = definitions.generate(session, warehouse, caller)
        if show:
            err_console.print(f"generated {made.inserted} cohorts; recording a snapshot run ...")
        run = record_with_progress(warehouse, caller, show=show, trigger="demo")
        if run["status"] != "succeeded":
            raise RuntimeError(f"the demo snapshot run failed: {run['error']}")
    finally:
        warehouse.close()
        engine.dispose()


def _issue_demo_key(settings: Settings, org_id: str) -> str:
    from cohortd.db import make_engine, make_sessionmaker
    from cohortd.keys import service
    from cohortd.keys.models import Role

    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            return service.issue_key(
                session, org_id=org_id, livemode=False, role=Role.admin, name="demo"
            ).secret
    finally:
        engine.dispose()


def prepare_demo(*, customers: int, seed: int, base_url: str, show: bool) -> dict[str, Any]:
    """Everything but serving: the demo org (created once), a fresh test key, the links."""
    from cohortd.db.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    org_id = _demo_org(settings) or _create_demo(
        settings, customers=customers, seed=seed, show=show
    )
    key = _issue_demo_key(settings, org_id)
    report = f"{base_url}/v1/reports/cohort?interval=month"
    return {
        "org_id": org_id,
        "test_key": key,
        "api": base_url,
        "dashboard": f"{base_url}/app",
        "docs": f"{base_url}/docs",
        "curl": f'curl -H "Authorization: Bearer {key}" "{report}"',
    }


def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    customers: Annotated[int, typer.Option(help="Demo customers to generate (first run).")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the demo data.")] = 7,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the server.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Set up the embedded default, load a demo organization, print a key and a curl, serve."""
    settings = get_settings()
    running = read_server_file(settings.data_dir)
    if running is not None:
        err_console.print(f"a cohortd server already runs at {running.url} for {settings.data_dir}")
        raise typer.Exit(1)
    show = not as_json and sys.stderr.isatty()
    info = prepare_demo(customers=customers, seed=seed, base_url=f"http://{host}:{port}", show=show)
    if as_json:
        emit_json(info)
    else:
        console.print(f"[bold]cohortd demo[/bold] — organization {info['org_id']} (test mode)")
        console.print(f"test key (admin, shown once): [bold]{info['test_key']}[/bold]")
        console.print(f"dashboard: {info['dashboard']}   API docs: {info['docs']}")
        console.print("try:")
        console.print(info["curl"], soft_wrap=True, highlight=False)
    if serve:
        from cohortd.cli.main import run_server

        run_server(host=host, port=port)
