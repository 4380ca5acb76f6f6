"""``cohortd orgs``: bootstrap organizations and their first keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cohortd.cli.output import console, emit_json
from cohortd.config import get_settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.keys import service
from cohortd.keys.models import Organization, Role

app = typer.Typer(help="Create organizations and print their first keys.", no_args_is_help=True)


def create_org_with_keys(name: str, base_currency: str) -> dict[str, object]:
    """Create an organization and an admin key per mode; the secrets are returned once."""
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            org = service.create_organization(session, name=name, base_currency=base_currency)
            live = service.issue_key(session, org_id=org.id, livemode=True, role=Role.admin)
            test = service.issue_key(session, org_id=org.id, livemode=False, role=Role.admin)
            session.commit()
            return {
                "id": org.id,
                "name": org.name,
                "base_currency": org.base_currency,
                "keys": {"live": live.secret, "test": test.secret},
            }
    finally:
        engine.dispose()


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Display name of the organization.")],
    base_currency: Annotated[str, typer.Option("--base-currency", help="ISO 4217 code.")] = "USD",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an organization and print its admin keys (shown once)."""
    created = create_org_with_keys(name, base_currency)
    if as_json:
        emit_json(created)
        return
    table = Table(title=f"Organization {created['id']}")
    table.add_column("mode")
    table.add_column("admin key (shown once)")
    keys = created["keys"]
    assert isinstance(keys, dict)
    table.add_row("live", keys["live"])
    table.add_row("test", keys["test"])
    console.print(table)


@app.command("list")
def list_orgs(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List organizations."""
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    with make_sessionmaker(engine)() as session:
        orgs = [
            {"id": o.id, "name": o.name, "base_currency": o.base_currency}
            for o in session.query(Organization).order_by(Organization.id)
        ]
    engine.dispose()
    if as_json:
        emit_json(orgs)
        return
    table = Table("id", "name", "base currency")
    for org in orgs:
        table.add_row(org["id"], org["name"], org["base_currency"])
    console.print(table)
