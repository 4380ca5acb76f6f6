"""Docs that tests keep honest: every CLI command is documented, and the README's demo
command yields a key and a curl that answer."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cohortd.app import create_app
from cohortd.cli.main import app as cli_app
from tests.fixtures.api import make_settings

ROOT = Path(__file__).resolve().parents[2]


def _command_paths(command: Any, prefix: str) -> list[str]:
    if hasattr(command, "commands"):  # a group (Typer may ship its own click)
        paths = []
        for name, sub in command.commands.items():
            paths += _command_paths(sub, f"{prefix} {name}")
        return paths
    return [prefix]


def test_every_cli_command_is_documented() -> None:
    docs = "\n".join(p.read_text() for p in [ROOT / "README.md", *ROOT.glob("docs/*.md")])
    commands = _command_paths(typer.main.get_command(cli_app), "cohortd")
    assert len(commands) > 10
    missing = [c for c in commands if c not in docs]
    assert missing == [], f"undocumented commands: {missing}"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_demo_prints_a_key_and_a_curl_that_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path)
    for name in ("data_dir", "database_url", "warehouse_url"):
        monkeypatch.setenv(f"COHORTD_{name.upper()}", str(getattr(settings, name)))
    from cohortd.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli_app, ["demo", "--no-serve", "--json", "--customers", "300", "--port", "8123"]
        )
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        again = json.loads(CliRunner().invoke(cli_app, ["demo", "--no-serve", "--json"]).stdout)
        assert again["org_id"] == info["org_id"]  # reused, with a fresh key
        assert again["test_key"] != info["test_key"]
    finally:
        get_settings.cache_clear()
    words = shlex.split(info["curl"])
    assert words[0] == "curl" and words[1] == "-H"
    header_name, _, header_value = words[2].partition(": ")
    url = words[3]
    assert url.startswith("http://127.0.0.1:8123/v1/reports/cohort")
    with TestClient(create_app(settings, configure_logs=False)) as client:
        response = client.get(
            url.removeprefix("http://127.0.0.1:8123"), headers={header_name: header_value}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["currency"] == "USD" and body["result"]["list"][-1]["cohort_group"] == "average"
        assert sum(c.get("initial_customers", 0) for c in body["result"]["list"]) > 100
        customers = client.get("/v1/subscribers?limit=5", headers={header_name: header_value})
        assert customers.status_code == 200 and len(customers.json()["data"]) == 5
