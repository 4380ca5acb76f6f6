"""What the notebook methods return: the API's body (``.body``) and its frames.

Every answer has ``to_arrow()``, ``to_pandas()``, ``to_polars()`` and ``to_parquet(path)``
in a tidy long form (one row per cohort × period, or per period, with every field). Arrow,
Parquet and polars keep money exact (decimal); pandas gets float64 unless
``exact=True`` (then ``Decimal`` objects)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from cohortd.notebook import plots
from cohortd.notebook.extras import require
from cohortd.notebook.tables import MONEY, Kind, as_floats, exact, table

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    from matplotlib.axes import Axes

_PERCENT_FIELDS: Final = (
    "mrr_retention",
    "customer_retention",
    "mrr_retention_relative",
    "customer_retention_relative",
    "mrr_churn",
    "customer_churn",
    "mrr_churn_relative",
    "customer_churn_relative",
)
PERIOD_COLUMNS: Final[tuple[tuple[str, Kind], ...]] = (
    ("mrr_retained", Kind.money),
    ("customers_retained", Kind.integer),
    *((name, Kind.money) for name in _PERCENT_FIELDS),
    ("complete", Kind.flag),
    ("mrr_retained_gross", Kind.money),
    ("mrr_retention_gross", Kind.money),
)


def _pandas(arrow: pa.Table, *, exact: bool) -> pd.DataFrame:
    pandas = require("pandas")
    nullable = {pa.int64(): pandas.Int64Dtype(), pa.bool_(): pandas.BooleanDtype()}
    frame: pd.DataFrame = (arrow if exact else as_floats(arrow)).to_pandas(
        types_mapper=nullable.get
    )
    return frame


class Answer:
    """Base: the body as the API answers it, and its tidy table."""

    columns: tuple[tuple[str, Kind], ...] = ()

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def rows(self) -> list[dict[str, Any]]:
        """The tidy rows (overridden per answer)."""
        raise NotImplementedError

    def to_arrow(self) -> pa.Table:
        return table(self.rows(), self.columns)

    def to_pandas(self, *, exact: bool = False) -> pd.DataFrame:
        """Money as float64 (the API's 2-decimal values), or ``Decimal`` with ``exact``;
        counts as nullable ``Int64``."""
        return _pandas(self.to_arrow(), exact=exact)

    def to_polars(self) -> pl.DataFrame:
        polars = require("polars")
        frame: pl.DataFrame = polars.from_arrow(self.to_arrow())
        return frame

    def to_parquet(self, path: str | Path) -> Path:
        """Write the tidy table (money as decimals) to ``path``."""
        target = Path(path)
        pq.write_table(self.to_arrow(), target)
        return target

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self.rows())} rows>"


class Report(Answer):
    """The retention report: tidy rows per cohort × period; ``wide=True`` for the
    triangle (one row per cohort, one column per period index, cells = ``value``)."""

    columns = (
        ("cohort_group", Kind.text),
        ("initial_customers", Kind.integer),
        ("initial_mrr", Kind.money),
        ("period", Kind.integer),
        *PERIOD_COLUMNS,
    )

    @property
    def currency(self) -> str:
        return str(self.body["currency"])

    @property
    def interval(self) -> str:
        return str(self.body["interval"])

    def cohorts(self) -> list[dict[str, Any]]:
        return list(self.body["result"]["list"])

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "cohort_group": cohort["cohort_group"],
                "initial_customers": cohort.get("initial_customers"),
                "initial_mrr": cohort.get("initial_mrr"),
                "period": k,
                **cells,
            }
            for cohort in self.cohorts()
            for k, cells in enumerate(cohort["periods"])
        ]

    def _wide(self, value: str) -> pa.Table:
        kinds = dict(self.columns)
        if value not in kinds or value in ("cohort_group", "period"):
            raise ValueError(f"value must be a period field, e.g. 'mrr_retention', not {value!r}")
        cohorts = self.cohorts()
        longest = max((len(c["periods"]) for c in cohorts), default=0)
        kind = kinds[value]
        arrays: dict[str, pa.Array] = {
            "cohort_group": pa.array([c["cohort_group"] for c in cohorts], type=pa.string())
        }
        for k in range(longest):
            cells = [c["periods"][k][value] if k < len(c["periods"]) else None for c in cohorts]
            if kind is Kind.money:
                arrays[str(k)] = pa.array([exact(v) for v in cells], type=MONEY)
            else:
                arrays[str(k)] = pa.array(cells)
        return pa.table(arrays)

    def to_arrow(self, *, wide: bool = False, value: str = "mrr_retention") -> pa.Table:
        return self._wide(value) if wide else super().to_arrow()

    def to_pandas(
        self, *, wide: bool = False, value: str = "mrr_retention", exact: bool = False
    ) -> pd.DataFrame:
        if not wide:
            return super().to_pandas(exact=exact)
        frame = _pandas(self._wide(value), exact=exact).set_index("cohort_group")
        frame.columns = [int(name) for name in frame.columns]
        return frame

    def to_polars(self, *, wide: bool = False, value: str = "mrr_retention") -> pl.DataFrame:
        polars = require("polars")
        frame: pl.DataFrame = polars.from_arrow(self.to_arrow(wide=wide, value=value))
        return frame

    def plot(self, value: str = "mrr_retention", *, ax: Axes | None = None) -> Axes:
        """The triangle as a heatmap (cohorts down, periods across)."""
        wide = self._wide(value)
        labels = [str(v) for v in wide.column("cohort_group").to_pylist()]
        matrix = [
            [None if v is None else float(v) for v in wide.column(name).to_pylist()]
            for name in wide.column_names[1:]
        ]
        title = f"{value} by {self.interval} ({self.currency})"
        return plots.heatmap(labels, matrix, title=title, ax=ax)


SNAPSHOT_COLUMNS: Final[tuple[tuple[str, Kind], ...]] = (
    ("period_start", Kind.day),
    ("period_end", Kind.day),
    ("starting_mrr", Kind.money),
    ("new_mrr", Kind.money),
    ("reactivation_mrr", Kind.money),
    ("expansion_mrr", Kind.money),
    ("contraction_mrr", Kind.money),
    ("churn_mrr", Kind.money),
    ("ending_mrr", Kind.money),
    ("fx_impact", Kind.money),
    ("starting_arr", Kind.money),
    ("ending_arr", Kind.money),
    ("churn_count", Kind.integer),
    ("member_count", Kind.integer),
    ("nrr", Kind.money),
    ("grr", Kind.money),
    ("avg_health_score", Kind.money),
    ("avg_risk_score", Kind.money),
)


class Snapshots(Answer):
    """A cohort's snapshots (SPEC §4): one row per period."""

    columns = SNAPSHOT_COLUMNS

    def rows(self) -> list[dict[str, Any]]:
        return list(self.body["data"])

    def plot(self, *, ax: Axes | None = None) -> Axes:
        """MRR movements per period as bars (losses below zero), ending MRR as a line."""
        rows = self.rows()
        return plots.movements(
            [str(r["period_end"]) for r in rows],
            {name: [r[name] for r in rows] for name in plots.MOVEMENTS},
            [r["ending_mrr"] for r in rows],
            title="Cohort MRR movements",
            ax=ax,
        )


class Curve(Answer):
    """A vintage curve (SPEC §4): one row per month since each member's cohort month."""

    columns = (
        ("cohort_id", Kind.text),
        ("month", Kind.integer),
        ("mature_customers", Kind.integer),
        ("mature_mrr", Kind.money),
        *PERIOD_COLUMNS,
    )

    def rows(self) -> list[dict[str, Any]]:
        cohort_id = self.body["cohort_id"]
        return [{"cohort_id": cohort_id, **point} for point in self.body["periods"]]

    def plot(self, *, title: str | None = None, ax: Axes | None = None) -> Axes:
        """MRR, gross MRR and customer retention by month."""
        rows = self.rows()
        series = {
            name: [r[name] for r in rows]
            for name in ("mrr_retention", "mrr_retention_gross", "customer_retention")
        }
        heading = title or f"Vintage curve ({self.body['currency']})"
        return plots.curves([r["month"] for r in rows], series, title=heading, ax=ax)


class Cohorts(Answer):
    """Cohorts: one row per cohort (``definition`` as JSON text)."""

    columns = (
        ("id", Kind.text),
        ("name", Kind.text),
        ("description", Kind.text),
        ("cohort_type", Kind.text),
        ("grouping_field", Kind.text),
        ("grouping_value", Kind.text),
        ("member_count", Kind.integer),
        ("as_of", Kind.day),
        ("definition", Kind.json),
        ("created_at", Kind.moment),
        ("updated_at", Kind.moment),
    )

    def rows(self) -> list[dict[str, Any]]:
        return list(self.body["data"])


class Members(Answer):
    """One cohort (``.cohort``) and its members: one row per subscriber."""

    columns = (
        ("id", Kind.text),
        ("name", Kind.text),
        ("country", Kind.text),
        ("currency", Kind.text),
        ("industry", Kind.text),
        ("channel", Kind.text),
        ("size", Kind.text),
        ("segment", Kind.text),
        ("territory", Kind.text),
        ("owner_id", Kind.text),
        ("status", Kind.text),
        ("plan_id", Kind.text),
        ("tags", Kind.json),
        ("engagement_score", Kind.money),
        ("health_score", Kind.money),
        ("risk_score", Kind.money),
        ("created_at", Kind.moment),
        ("paid_started_at", Kind.day),
        ("tenure_days", Kind.integer),
        ("mrr", Kind.money),
    )

    @property
    def cohort(self) -> dict[str, Any]:
        return dict(self.body["cohort"])

    def rows(self) -> list[dict[str, Any]]:
        return list(self.body["data"])


METRICS_COLUMNS: Final[tuple[tuple[str, Kind], ...]] = (
    ("date", Kind.day),
    ("period_start", Kind.day),
    ("complete", Kind.flag),
    ("mrr", Kind.money),
    ("arr", Kind.money),
    ("customers", Kind.integer),
    ("arpa", Kind.money),
    ("starting_mrr", Kind.money),
    ("new_mrr", Kind.money),
    ("reactivation_mrr", Kind.money),
    ("expansion_mrr", Kind.money),
    ("contraction_mrr", Kind.money),
    ("churn_mrr", Kind.money),
    ("net_new_mrr", Kind.money),
    ("fx_impact", Kind.money),
    ("new_customers", Kind.integer),
    ("reactivated_customers", Kind.integer),
    ("churned_customers", Kind.integer),
    ("customer_churn_rate", Kind.money),
    ("mrr_churn_rate", Kind.money),
    ("net_mrr_churn_rate", Kind.money),
    ("nrr", Kind.money),
    ("grr", Kind.money),
    ("quick_ratio", Kind.money),
    ("ltv", Kind.money),
)


class Metrics(Answer):
    """SaaS metrics (SPEC §8): one row per period."""

    columns = METRICS_COLUMNS

    def rows(self) -> list[dict[str, Any]]:
        return list(self.body["entries"])

    def plot(self, *, ax: Axes | None = None) -> Axes:
        """MRR movements per period as bars, MRR as a line."""
        rows = self.rows()
        return plots.movements(
            [str(r["date"]) for r in rows],
            {name: [r[name] for r in rows] for name in plots.MOVEMENTS},
            [r["mrr"] for r in rows],
            title=f"MRR movements ({self.body['currency']})",
            ax=ax,
        )
