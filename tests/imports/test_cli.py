"""``cohortd import`` / ``cohortd fx import``: direct, locked file, and through a server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cohortd.cli.main import app as cli
from cohortd.cli.orgs import create_org_with_keys
from cohortd.config import get_settings
from cohortd.warehouse import Scope
from cohortd.warehouse.server_file import read_server_file, remove_server_file, write_server_file
from tests.imports.helpers import GOOD_CUSTOMERS, GOOD_SUBSCRIPTIONS, stored, write


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh embedded data dir (SQLite + DuckDB) as the CLI's settings."""
    folder = tmp_path / "data"
    monkeypatch.setenv("COHORTD_DATA_DIR", str(folder))
    monkeypatch.delenv("COHORTD_DATABASE_URL", raising=False)
    monkeypatch.delenv("COHORTD_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("COHORTD_API_KEY", raising=False)
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def _files(tmp_path: Path) -> list[str]:
    customers = write(tmp_path, "customers.csv", GOOD_CUSTOMERS)
    subs = write(tmp_path, "subs.csv", GOOD_SUBSCRIPTIONS)
    return ["--customers", str(customers), "--subscriptions", str(subs)]


def test_direct_import_and_reimport(data_dir: Path, tmp_path: Path) -> None:
    org = str(create_org_with_keys("Acme", "USD")["id"])
    runner = CliRunner()
    first = runner.invoke(cli, ["import", "--org", org, "--json", *_files(tmp_path)])
    assert first.exit_code == 0, first.output
    job = json.loads(first.stdout)
    assert job["status"] == "succeeded" and job["id"].startswith("imp_")
    assert job["counts"]["customers"]["inserted"] == 2
    again = json.loads(
        runner.invoke(cli, ["import", "--org", org, "--json", *_files(tmp_path)]).stdout
    )
    assert again["counts"]["subscriptions"] == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 2,
        "skipped": 0,
    }
    fx = write(tmp_path, "fx.csv", "date,currency,rate\n2024-01-01,USD,1.1\n")
    rates = runner.invoke(cli, ["fx", "import", str(fx), "--org", org, "--mode", "live", "--json"])
    assert json.loads(rates.stdout)["counts"]["exchange_rates"]["inserted"] == 1


def test_bad_rows_exit_non_zero(data_dir: Path, tmp_path: Path) -> None:
    org = str(create_org_with_keys("Acme", "USD")["id"])
    bad = write(tmp_path, "c.csv", "id,created_at\nc1,never\n")
    result = CliRunner().invoke(cli, ["import", "--org", org, "--customers", str(bad), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["row"] == 2


def test_unknown_org_and_bad_mode_are_clear(data_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["import", "--org", "org_nope", "--json", *_files(tmp_path)])
    assert unknown.exit_code == 2
    assert (
        json.loads(unknown.stdout)["message"]
        == "no organization 'org_nope' (see `cohortd orgs create`)"
    )
    mode = runner.invoke(
        cli, ["import", "--org", "x", "--mode", "prod", "--json", *_files(tmp_path)]
    )
    assert json.loads(mode.stdout)["message"] == "--mode must be test or live"


HOLD_DUCKDB = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(60)
"""


def test_locked_duckdb_without_a_server_fails_clearly(data_dir: Path, tmp_path: Path) -> None:
    org = str(create_org_with_keys("Acme", "USD")["id"])
    data_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DUCKDB, str(data_dir / "warehouse.duckdb")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        result = CliRunner().invoke(cli, ["import", "--org", org, "--json", *_files(tmp_path)])
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert result.exit_code == 2
    assert "open in another process" in json.loads(result.stdout)["message"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_import_goes_through_a_running_server(data_dir: Path, tmp_path: Path) -> None:
    """The server holds the DuckDB file; the CLI finds server.json and uses the HTTP API."""
    import uvicorn

    from cohortd.app import create_app
    from cohortd.keys.models import ApiKey

    org = str(create_org_with_keys("Acme", "USD")["id"])
    application = create_app(get_settings(), configure_logs=False)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        write_server_file(data_dir, f"http://127.0.0.1:{port}")
        assert read_server_file(data_dir) is not None
        result = CliRunner().invoke(cli, ["import", "--org", org, "--json", *_files(tmp_path)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["status"] == "succeeded"
        rows = stored(application.state.warehouse, Scope(org, False), "customers")
        assert [r["id"] for r in rows] == ["c1", "c2"]
        with application.state.sessions() as session:
            temporary = session.scalars(
                select(ApiKey).where(ApiKey.name == "cohortd import (temporary)")
            ).all()
        # The CLI issued itself a key for the run and revoked it afterwards.
        assert len(temporary) == 1 and temporary[0].revoked_at is not None
    finally:
        remove_server_file(data_dir)
        server.should_exit = True
        thread.join(timeout=10)
    assert read_server_file(data_dir) is None


def test_a_stale_server_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "server.json").write_text(json.dumps({"url": "http://x", "pid": 2**22 + 12345}))
    assert read_server_file(tmp_path) is None
    (tmp_path / "server.json").write_text("not json")
    assert read_server_file(tmp_path) is None


def test_the_progress_display_counts_rows_then_shows_the_preparation() -> None:
    from cohortd.cli.imports import _progress
    from cohortd.imports.columns import ImportKind

    with _progress(True) as shown:
        shown.advance(ImportKind.customers, 65_536)
        shown.advance(ImportKind.customers, 10)
        shown.advance(ImportKind.subscriptions, 7)
        shown.preparing()
        assert shown.bar is not None
        tasks = {t.description: (t.completed, t.fields["rows"]) for t in shown.bar.tasks}
    assert tasks == {
        "reading customers": (65_546, "65,546 rows"),
        "reading subscriptions": (7, "7 rows"),
        "preparing reports (derived tables)": (0, ""),
    }
    with _progress(False) as hidden:  # not a terminal: nothing shown, nothing fails
        hidden.advance(ImportKind.customers, 1)
        hidden.preparing()
        assert hidden.bar is None
