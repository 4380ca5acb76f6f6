"""`cohortd demo-data`: the files it writes have the shared example's exact layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from cohortd.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "examples" / "small"
runner = CliRunner()


def _first_line(path: Path) -> bytes:
    return path.read_bytes().split(b"\n", 1)[0]


def test_csv_files_have_the_example_header_and_the_counts_printed(tmp_path: Path) -> None:
    result = runner.invoke(app, [
        "demo-data", "--customers", "120", "--seed", "4", "--out", str(tmp_path),
        "--start", "2022-01-01", "--end", "2025-06-30", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    for name in ("customers.csv", "subscriptions.csv"):
        assert _first_line(tmp_path / name) == _first_line(EXAMPLE / name)
    with (tmp_path / "customers.csv").open(newline="") as handle:
        customers = list(csv.DictReader(handle))
    with (tmp_path / "subscriptions.csv").open(newline="") as handle:
        subscriptions = list(csv.DictReader(handle))
    assert summary["customers"] == len(customers) == 120
    assert summary["subscriptions"] == len(subscriptions) > 120
    assert (summary["start"], summary["end"]) == ("2022-01-01", "2025-06-30")
    assert min(c["created_at"] for c in customers) >= "2022-01-01"
    assert max(s["start_date"] for s in subscriptions) <= "2025-06-30"


def test_same_seed_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    for out in ("one", "two"):
        arguments = ["demo-data", "--customers", "60", "--seed", "9", "--end", "2025-01-31"]
        result = runner.invoke(app, [*arguments, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    for name in ("customers.csv", "subscriptions.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_parquet_format_has_the_same_columns(tmp_path: Path) -> None:
    result = runner.invoke(app, [
        "demo-data", "--customers", "50", "--seed", "1", "--out", str(tmp_path),
        "--end", "2025-01-31", "--format", "parquet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("customers", "subscriptions"):
        header = _first_line(EXAMPLE / f"{name}.csv").decode().split(",")
        assert pq.read_schema(tmp_path / f"{name}.parquet").names == header
    assert not (tmp_path / "customers.csv").exists()


def test_bad_options_name_the_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo-data", "--customers", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--customers" in result.output
    result = runner.invoke(app, [
        "demo-data", "--customers", "5", "--start", "2025-01-01", "--end", "2024-01-01",
        "--out", str(tmp_path),
    ])  # fmt: skip
    assert result.exit_code == 2
    assert "--end" in result.output
    assert not list(tmp_path.iterdir())


def test_every_option_is_documented() -> None:
    import typer.main

    from cohortd.cli import demo

    doc = (Path(__file__).resolve().parents[2] / "docs" / "demo-data.md").read_text()
    options = [
        opt
        for param in typer.main.get_command(demo.app).params
        for opt in param.opts
        if opt != "--help"
    ]
    assert len(options) == 8
    for option in options:
        assert f"`{option}" in doc, f"{option} is not documented in docs/demo-data.md"
