"""Opening a workspace, creating an organization and importing files from Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cohortd.config import Settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.errors import FieldError, NotFound, ValidationFailed
from cohortd.imports import service as imports
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import OnError
from cohortd.keys import service as keys
from cohortd.keys.repository import get_organization
from cohortd.notebook.workspace import Workspace, problem
from cohortd.warehouse import Scope, connect


def settings_for(
    data_dir: str | Path | None, database_url: str | None, warehouse_url: str | None
) -> Settings:
    """The settings (``COHORTD_*`` environment first), with the given places on top."""
    given: dict[str, Any] = {
        "data_dir": Path(data_dir) if data_dir is not None else None,
        "database_url": database_url,
        "warehouse_url": warehouse_url,
    }
    return Settings(**{name: value for name, value in given.items() if value is not None})


def open_workspace(
    data_dir: str | Path | None = None,
    *,
    org: str,
    mode: str = "test",
    database_url: str | None = None,
    warehouse_url: str | None = None,
) -> Workspace:
    """Open one organization's ``mode`` (``test`` or ``live``) for analysis.

    The planes are the server's: ``data_dir`` (default ``COHORTD_DATA_DIR`` or
    ``.cohortd``) holds the SQLite control plane and the DuckDB warehouse, unless
    ``database_url`` / ``warehouse_url`` name others (PostgreSQL)."""
    if mode not in ("test", "live"):
        invalid = ValidationFailed(
            "mode must be 'test' or 'live'.", errors=[FieldError(("mode",), "test or live")]
        )
        raise problem(invalid)
    settings = settings_for(data_dir, database_url, warehouse_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        found = get_organization(session, org)
        base_currency = found.base_currency if found else None
    if base_currency is None:
        engine.dispose()
        raise problem(NotFound(f"No organization '{org}'."))
    warehouse = connect(settings.resolved_warehouse_url)

    def close() -> None:
        warehouse.close()
        engine.dispose()

    return Workspace(
        settings,
        sessions,
        warehouse,
        org_id=org,
        livemode=mode == "live",
        base_currency=base_currency,
        on_close=close,
    )


def create_organization(
    name: str,
    *,
    base_currency: str,
    data_dir: str | Path | None = None,
    database_url: str | None = None,
) -> str:
    """Create an organization (no keys: ``cohortd orgs create`` issues those) and return
    its id."""
    settings = settings_for(data_dir, database_url, None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            return keys.create_organization(session, name=name, base_currency=base_currency).id
    finally:
        engine.dispose()


def import_files(workspace: Workspace, files: dict[str, Path], *, on_error: str) -> dict[str, Any]:
    """Run one recorded import job, as ``cohortd import`` does without a server."""
    if not files:
        raise ValidationFailed("Give customers, subscriptions or exchange_rates.")
    try:
        policy = OnError(on_error)
    except ValueError:
        raise ValidationFailed("on_error must be 'abort' or 'skip'.") from None
    sources = [ImportSource(ImportKind(kind), path, path.name) for kind, path in files.items()]
    scope = Scope(workspace.org_id, workspace.livemode)
    with workspace.sessions.begin() as session:
        job_id = imports.create_job(
            session, scope, files={s.kind: s.name for s in sources}, on_error=policy
        ).id
    job = imports.run_job(workspace.sessions, workspace.warehouse, job_id, sources)
    answer: dict[str, Any] = imports.job_out(job).model_dump(mode="json")
    if answer["status"] != "succeeded":
        raise ValidationFailed("The import failed; nothing was written.", extra={"job": answer})
    return answer
