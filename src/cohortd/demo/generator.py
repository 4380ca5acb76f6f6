"""Realistic demo data: customers and their MRR history, in the import file layout.

`generate()` returns Arrow tables (small N: tests, benchmarks); `write_demo_data()`
streams any N to CSV or Parquet chunk by chunk, so memory stays bounded. The same
arguments always give byte-identical files: every chunk draws from random streams named
by (seed, purpose, month, piece), and chunks have a fixed size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cohortd import clock
from cohortd.demo import layout
from cohortd.demo.catalog import Shape
from cohortd.demo.lifecycle import Accounts, simulate
from cohortd.demo.profiles import draw_profiles, draw_scores
from cohortd.demo.signups import (
    EPOCH,
    SECONDS_PER_DAY,
    day_number,
    iter_month_chunks,
    signup_months,
)
from cohortd.demo.streams import customer_numbers, stream
from cohortd.demo.today import current_state
from cohortd.errors import InvalidParameter

DEFAULT_START: Final = date(2021, 1, 1)
# Fixed on purpose: the random streams are keyed by chunk, so the output depends on it.
CHUNK_SIZE: Final = 20_000
MAX_CUSTOMERS: Final = 100_000_000


class DemoFormat(StrEnum):
    """File format of `write_demo_data`."""

    csv = "csv"
    parquet = "parquet"


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What to generate: `customers` sign-ups between `start` and `end` (= "today")."""

    customers: int
    seed: int
    start: date = DEFAULT_START
    end: date | None = None  # None: today, UTC
    shape: Shape = Shape.default

    @property
    def horizon(self) -> date:
        """The last day simulated: `end`, or today (``clock.today``) when it is None."""
        return self.end if self.end is not None else clock.today()

    def resolved(self) -> DemoConfig:
        """This config with `end` fixed, so a run crossing midnight stays one data set."""
        return replace(self, end=self.horizon)

    def validate(self) -> None:
        """Raise InvalidParameter naming the first bad argument."""
        if not 1 <= self.customers <= MAX_CUSTOMERS:
            raise InvalidParameter("customers", f"must be between 1 and {MAX_CUSTOMERS:,}")
        if self.seed < 0:
            raise InvalidParameter("seed", "must be a non-negative integer")
        if self.start < EPOCH:
            raise InvalidParameter("start", "must be on or after 1970-01-01")
        if self.horizon <= self.start:
            raise InvalidParameter("end", "must be after start")


@dataclass(frozen=True, slots=True)
class DemoData:
    """Customers and subscriptions as Arrow tables of strings, exactly as in the files."""

    customers: pa.Table
    subscriptions: pa.Table


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """What `write_demo_data` wrote."""

    customers_path: Path
    subscriptions_path: Path
    customers: int
    subscriptions: int


def default_start(config: DemoConfig) -> date:
    """2021-01-01, or for the global-saas shape five years before the horizon."""
    if config.shape is Shape.default:
        return DEFAULT_START
    horizon = config.horizon
    return date(horizon.year - 5, horizon.month, 1)


def iter_chunks(config: DemoConfig) -> Iterator[DemoData]:
    """The data set as consecutive chunks (customers in sign-up order, their rows after)."""
    config = config.resolved()
    config.validate()
    horizon = day_number(config.horizon)
    months = signup_months(
        customers=config.customers, seed=config.seed, start=config.start, end=config.horizon
    )
    next_subscription = 1
    for month, piece, position, seconds in iter_month_chunks(
        months, seed=config.seed, chunk_size=CHUNK_SIZE
    ):
        profile_rng = stream(config.seed, "profiles", month, piece)
        profiles = draw_profiles(profile_rng, seconds.size, config.shape)
        accounts = Accounts(
            signup_day=seconds // SECONDS_PER_DAY,
            segment=profiles.segment,
            currency=profiles.currency,
            propensity=profiles.propensity,
            horizon=horizon,
        )
        rows = simulate(stream(config.seed, "lifecycle", month, piece), accounts)
        scores = draw_scores(profile_rng, profiles, current_state(rows, seconds.size))
        positions = np.arange(position, position + seconds.size)
        numbers = customer_numbers(positions, total=config.customers, seed=config.seed)
        customers = layout.customer_table(profiles, scores, numbers=numbers, signup_seconds=seconds)
        subscriptions = layout.subscription_table(
            rows,
            customer_id=customers.column("id").combine_chunks(),
            currency=profiles.currency,
            first_number=next_subscription,
            second_currency=profiles.second_currency,
        )
        next_subscription += subscriptions.num_rows
        yield DemoData(customers, subscriptions)


def generate(
    *,
    customers: int,
    seed: int,
    start: date = DEFAULT_START,
    end: date | None = None,
    shape: Shape = Shape.default,
) -> DemoData:
    """The whole data set in memory (meant for small N: tests, notebooks, benchmarks)."""
    chunks = list(iter_chunks(DemoConfig(customers, seed, start, end, shape)))
    return DemoData(
        pa.concat_tables([chunk.customers for chunk in chunks]),
        pa.concat_tables([chunk.subscriptions for chunk in chunks]),
    )


class _CsvSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file: BinaryIO = path.open("wb")
        self._file.write((",".join(schema.names) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        self._file.write(layout.csv_bytes(table, header=False))

    def close(self) -> None:
        self._file.close()


class _ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


def write_demo_data(
    out_dir: Path,
    config: DemoConfig,
    *,
    file_format: DemoFormat = DemoFormat.csv,
    on_progress: Callable[[int], None] | None = None,
) -> DemoFiles:
    """Stream the data set to `out_dir`/customers.<ext> and subscriptions.<ext>.

    Files are written under a temporary name and renamed at the end, so a failed or
    interrupted run never leaves a half file that looks complete.
    """
    config = config.resolved()
    config.validate()
    out_dir.mkdir(parents=True, exist_ok=True)
    sink_type = _CsvSink if file_format is DemoFormat.csv else _ParquetSink
    final = {
        name: out_dir / f"{name}.{file_format.value}" for name in ("customers", "subscriptions")
    }
    partial = {name: path.with_name(path.name + ".partial") for name, path in final.items()}
    customers_sink = sink_type(partial["customers"], layout.CUSTOMER_SCHEMA)
    subscriptions_sink = sink_type(partial["subscriptions"], layout.SUBSCRIPTION_SCHEMA)
    counts = [0, 0]
    completed = False
    try:
        for chunk in iter_chunks(config):
            customers_sink.write(chunk.customers)
            subscriptions_sink.write(chunk.subscriptions)
            counts[0] += chunk.customers.num_rows
            counts[1] += chunk.subscriptions.num_rows
            if on_progress is not None:
                on_progress(counts[0])
        completed = True
    finally:
        customers_sink.close()
        subscriptions_sink.close()
        if not completed:
            for path in partial.values():
                path.unlink(missing_ok=True)
    for name, path in final.items():
        os.replace(partial[name], path)
    return DemoFiles(final["customers"], final["subscriptions"], counts[0], counts[1])
