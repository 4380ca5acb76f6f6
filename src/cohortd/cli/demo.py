"""``cohortd demo-data``: write a realistic, deterministic demo data set to import."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from cohortd.cli.output import console, emit_json
from cohortd.demo import DemoConfig, DemoFiles, DemoFormat, write_demo_data
from cohortd.demo.catalog import Shape
from cohortd.demo.generator import default_start
from cohortd.errors import InvalidParameter

app = typer.Typer(
    help="Generate realistic demo customers and subscriptions (CSV or Parquet).",
    add_completion=False,
)

_OPTION_NAMES = {"customers": "--customers", "seed": "--seed", "start": "--start", "end": "--end"}


@app.callback(invoke_without_command=True)
def demo_data(
    customers: Annotated[int, typer.Option(help="Number of customers (sign-ups).")] = 1_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    out: Annotated[Path, typer.Option(help="Directory to write the files to.")] = Path("demo-data"),
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First sign-up day. [default: 2021-01-01; global-saas: five years before --end]",
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help='Last day simulated ("today"). [default: today, UTC]'
        ),
    ] = None,
    file_format: Annotated[
        DemoFormat, typer.Option("--format", help="File format.")
    ] = DemoFormat.csv,
    shape: Annotated[
        Shape, typer.Option(help="default, or global-saas: 60 % billed outside USD, 20 currencies.")
    ] = Shape.default,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write customers.<format> and subscriptions.<format> in the import layout (SPEC §6)."""
    config = DemoConfig(
        customers=customers,
        seed=seed,
        end=end.date() if end is not None else None,
        shape=shape,
    ).resolved()
    config = replace(config, start=start.date() if start else default_start(config))
    began = time.perf_counter()
    try:
        files = _write(out, config, file_format, show_progress=not as_json)
    except InvalidParameter as error:
        message = error.errors[0].msg
        raise typer.BadParameter(message, param_hint=_OPTION_NAMES[error.parameter]) from None
    summary = {
        "customers": files.customers,
        "subscriptions": files.subscriptions,
        "files": [str(files.customers_path), str(files.subscriptions_path)],
        "seed": seed,
        "shape": shape.value,
        "start": config.start.isoformat(),
        "end": config.horizon.isoformat(),
        "seconds": round(time.perf_counter() - began, 2),
    }
    if as_json:
        emit_json(summary)
        return
    console.print(
        f"wrote {files.customers:,} customers and {files.subscriptions:,} subscription rows "
        f"to {out} in {summary['seconds']} s"
    )


def _write(
    out: Path, config: DemoConfig, file_format: DemoFormat, *, show_progress: bool
) -> DemoFiles:
    """Write the files, with a progress bar on a terminal."""
    if not (show_progress and console.is_terminal):
        return write_demo_data(out, config, file_format=file_format)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("generating", total=config.customers)
        return write_demo_data(
            out, config, file_format=file_format,
            on_progress=lambda done: progress.update(task, completed=done),
        )  # fmt: skip
