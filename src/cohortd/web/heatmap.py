"""The retention triangle as a heatmap: the report's own numbers, laid out for display.

Nothing here computes a metric. Each cell shows one field of the report's period object
as the API returned it; the colour comes from the cell's retention field of the same
object, and the hover text lists the cell's other fields verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from html import escape
from typing import Any, Final

from markupsafe import Markup


class Measure(StrEnum):
    mrr = "mrr"
    customers = "customers"


class View(StrEnum):
    """What a cell shows; ``gross`` exists for MRR only (the GRR triangle)."""

    retention = "retention"
    relative = "relative"
    churn = "churn"
    churn_relative = "churn_relative"
    gross = "gross"
    amount = "amount"


_FIELDS: Final[dict[tuple[Measure, View], str]] = {
    (Measure.mrr, View.retention): "mrr_retention",
    (Measure.mrr, View.relative): "mrr_retention_relative",
    (Measure.mrr, View.churn): "mrr_churn",
    (Measure.mrr, View.churn_relative): "mrr_churn_relative",
    (Measure.mrr, View.gross): "mrr_retention_gross",
    (Measure.mrr, View.amount): "mrr_retained",
    (Measure.customers, View.retention): "customer_retention",
    (Measure.customers, View.relative): "customer_retention_relative",
    (Measure.customers, View.churn): "customer_churn",
    (Measure.customers, View.churn_relative): "customer_churn_relative",
    (Measure.customers, View.gross): "mrr_retention_gross",
    (Measure.customers, View.amount): "customers_retained",
}


def shown_field(measure: Measure, view: View) -> str:
    """The report field a cell shows (gross is an MRR measure whatever the switch says)."""
    return _FIELDS[(measure, view)]


def _colour_field(measure: Measure, view: View) -> str:
    if view is View.gross:
        return "mrr_retention_gross"
    if view in (View.relative, View.churn_relative):
        return f"{'mrr' if measure is Measure.mrr else 'customer'}_retention_relative"
    return f"{'mrr' if measure is Measure.mrr else 'customer'}_retention"


@dataclass(frozen=True, slots=True)
class Cell:
    k: int
    value: float | int
    text: str
    level: int  # 0..10 colour step; 11 = above 100 % (expansion)
    complete: bool
    details: tuple[str, ...]  # one text per DETAIL_LABELS entry ("" when absent)


@dataclass(frozen=True, slots=True)
class HeatRow:
    cohort_group: str
    initial_customers: int | None
    initial_mrr: float | None
    cells: tuple[Cell, ...]
    is_average: bool

    def cells_html(self) -> Markup:
        """The row's cells as HTML (``td.cell``, the value as its first text, ``data-k`` the
        period, ``incomplete`` marked ◔).

        Written here, not by a template loop: a monthly triangle has thousands of cells, and
        Jinja's autoescaping makes one garbage-collected ``Markup`` object per value, all
        kept until the page is joined; on the demo data that cost full collections of the
        server's heap (~30 ms a page on average, spikes of ~200 ms). Every text is escaped.
        """
        parts = []
        for cell in self.cells:
            incomplete = "" if cell.complete else " incomplete"
            mark = "" if cell.complete else _INCOMPLETE_MARK
            parts.append(
                f'<td class="cell l{cell.level}{incomplete}" data-k="{cell.k}" '
                f'data-value="{escape(str(cell.value))}">{escape(cell.text)}{mark}</td>'
            )
        return Markup("".join(parts))


_INCOMPLETE_MARK: Final = '<span class="mark" title="incomplete period"> ◔</span>'


# Beyond this many cells the page offers the CSV instead of drawing the triangle: a
# weekly report over years would otherwise weigh tens of megabytes of HTML.
MAX_DRAWN_CELLS: Final = 20_000


@dataclass(frozen=True, slots=True)
class Heatmap:
    field: str
    unit: str  # "%", the currency code, or "" for counts
    columns: tuple[int, ...]
    rows: tuple[HeatRow, ...]
    churn_like: bool

    @property
    def title(self) -> str:
        """The shown field in words, e.g. "MRR retention %"."""
        return dict(_DETAIL_FIELDS).get(self.field, self.field.replace("_", " "))

    @property
    def cell_count(self) -> int:
        return sum(len(row.cells) for row in self.rows)

    @property
    def drawable(self) -> bool:
        return self.cell_count <= MAX_DRAWN_CELLS

    def hover_details(self) -> dict[str, Any]:
        """What the hover/focus tooltip shows, written out once per cell (texts only, as
        formatted here): ``{"labels": [...], "rows": [[[text per label] per cell] per row]}``."""
        return {
            "labels": list(DETAIL_LABELS),
            "rows": [[cell.details for cell in row.cells] for row in self.rows],
        }


def format_number(value: float | int, unit: str) -> str:
    """Two decimals for money and percentages (as the API rounds them), none for counts."""
    if unit == "":
        return f"{int(value):,}"
    text = f"{value:,.2f}"
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def _level(retention: float) -> int:
    if retention > 100:
        return 11
    return max(0, min(10, int(retention // 10)))


_DETAIL_FIELDS: Final = (
    ("mrr_retained", "MRR retained"),
    ("customers_retained", "Customers retained"),
    ("mrr_retention", "MRR retention %"),
    ("customer_retention", "Customer retention %"),
    ("mrr_retention_relative", "MRR retention, relative %"),
    ("customer_retention_relative", "Customer retention, relative %"),
    ("mrr_churn", "MRR churn %"),
    ("customer_churn", "Customer churn %"),
    ("mrr_churn_relative", "MRR churn, relative %"),
    ("customer_churn_relative", "Customer churn, relative %"),
    ("mrr_retention_gross", "Gross MRR retention %"),
    ("mrr_retained_gross", "Gross MRR retained"),
)


DETAIL_LABELS: Final = tuple(label for _, label in _DETAIL_FIELDS)


def _cell(
    k: int,
    period: dict[str, Any],
    *,
    field: str,
    unit: str,
    colour: str,
    detail_units: tuple[tuple[str, str], ...],
) -> Cell:
    # One tuple of texts per cell (not a pair per text): a monthly triangle has thousands
    # of cells, and every object kept alive until the page is written is garbage
    # collector work.
    value = period[field]
    details = tuple(
        format_number(period[name], name_unit) if name in period else ""
        for name, name_unit in detail_units
    )
    return Cell(
        k=k,
        value=value,
        text=format_number(value, unit),
        level=_level(float(period[colour])),
        complete=bool(period.get("complete", True)),
        details=details,
    )


def _unit_of(field: str, currency: str) -> str:
    if field == "customers_retained":
        return ""
    if field.startswith("mrr_retained"):
        return currency
    return "%"


def build(envelope: dict[str, Any], *, measure: Measure, view: View) -> Heatmap:
    """Lay out a list-format report envelope (``result.list``) as heatmap rows."""
    field = shown_field(measure, view)
    currency = str(envelope.get("currency", ""))
    unit = _unit_of(field, currency)
    colour = _colour_field(measure, view)
    detail_units = tuple((name, _unit_of(name, currency)) for name, _ in _DETAIL_FIELDS)
    rows = []
    for row in envelope["result"]["list"]:
        periods = row["periods"]
        rows.append(
            HeatRow(
                cohort_group=row["cohort_group"],
                initial_customers=row.get("initial_customers"),
                initial_mrr=row.get("initial_mrr"),
                cells=tuple(
                    _cell(k, p, field=field, unit=unit, colour=colour, detail_units=detail_units)
                    for k, p in enumerate(periods)
                ),
                is_average=row["cohort_group"] == "average" and "initial_mrr" not in row,
            )
        )
    width = max((len(r.cells) for r in rows), default=0)
    return Heatmap(
        field=field,
        unit=unit,
        columns=tuple(range(width)),
        rows=tuple(rows),
        churn_like="churn" in field,
    )
