"""The ``cohortd`` command. Each command group lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from cohortd.cli import (
    cohorts,
    demo,
    demo_run,
    imports,
    intelligence,
    metrics,
    orgs,
    report,
    subscriptions,
    webhooks,
)

app = typer.Typer(
    help="cohortd: cohort analytics for subscription businesses.", no_args_is_help=True
)
db_app = typer.Typer(help="Control-plane database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(orgs.app, name="orgs")
app.add_typer(cohorts.app, name="cohorts")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(demo.app, name="demo-data")
imports.register(app)  # `cohortd import` and `cohortd fx`
intelligence.register(app, cohorts.app)  # `cohortd snapshot|anomalies`, `cohorts curve`
app.command("demo")(demo_run.demo)
app.command("report")(report.report)  # `cohortd report`
webhooks.register(app)  # `cohortd destinations|events|worker`
app.command("metrics")(metrics.metrics)  # `cohortd metrics`


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the API server (uvicorn)."""
    run_server(host=host, port=port)


def run_server(*, host: str, port: int) -> None:
    """Serve the app; record the address in the data dir so the CLI routes writes here."""
    import uvicorn

    from cohortd.app import create_app

    # A wildcard bind is reached by the local CLI through loopback.
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    app = create_app(announce_url=f"http://{local}:{port}")
    uvicorn.run(app, host=host, port=port, log_config=None)


@db_app.command("upgrade")
def db_upgrade(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Apply every control-plane migration."""
    from cohortd.cli.output import console, emit_json
    from cohortd.config import get_settings
    from cohortd.db.migrate import heads, upgrade

    upgrade(get_settings().resolved_database_url)
    if as_json:
        emit_json({"status": "ok", "heads": heads()})
    else:
        console.print(f"control plane at {', '.join(heads())}")


if __name__ == "__main__":
    app()
