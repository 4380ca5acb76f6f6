"""matplotlib drawings of the answers: the retention heatmap, curves, MRR movements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from cohortd.notebook.extras import pyplot, require

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MOVEMENTS: Final = ("new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churn_mrr")
_LOSSES: Final = frozenset({"contraction_mrr", "churn_mrr"})
_COLOURS: Final = {
    "new_mrr": "#2e7d32",
    "reactivation_mrr": "#66bb6a",
    "expansion_mrr": "#1565c0",
    "contraction_mrr": "#ef6c00",
    "churn_mrr": "#c62828",
}


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, created = pyplot().subplots(figsize=size)
    axes: Axes = created
    return axes


def heatmap(
    labels: Sequence[str],
    columns: Sequence[Sequence[float | None]],
    *,
    title: str,
    ax: Axes | None = None,
) -> Axes:
    """Rows = ``labels``, one column per entry of ``columns``; empty cells blank."""
    numpy = require("numpy")
    matrix = numpy.array(
        [[numpy.nan if v is None else v for v in column] for column in columns], dtype=float
    ).T.reshape(len(labels), len(columns))
    axes = _axes(ax, (min(16.0, 4 + 0.25 * len(columns)), min(14.0, 2 + 0.22 * len(labels))))
    image = axes.imshow(matrix, aspect="auto", cmap="RdYlGn", vmin=0, vmax=100)
    axes.figure.colorbar(image, ax=axes, label="%")
    step = max(1, len(labels) // 30)
    axes.set_yticks(range(0, len(labels), step), [labels[i] for i in range(0, len(labels), step)])
    axes.set_xlabel("period")
    axes.set_ylabel("cohort")
    axes.set_title(title)
    return axes


def curves(
    months: Sequence[int],
    series: Mapping[str, Sequence[Any]],
    *,
    title: str,
    ax: Axes | None = None,
) -> Axes:
    axes = _axes(ax, (8.0, 4.5))
    for name, values in series.items():
        axes.plot(months, [float(v) for v in values], marker="o", markersize=3, label=name)
    axes.axhline(100, color="grey", linewidth=0.8)
    axes.set_xlabel("month")
    axes.set_ylabel("%")
    axes.set_title(title)
    axes.legend()
    return axes


def movements(
    periods: Sequence[str],
    moved: Mapping[str, Sequence[Any]],
    level: Sequence[Any],
    *,
    title: str,
    ax: Axes | None = None,
) -> Axes:
    """Gains stacked above zero, losses below, and ``level`` (MRR) on a second axis."""
    axes = _axes(ax, (10.0, 4.5))
    positions = list(range(len(periods)))
    up = [0.0] * len(periods)
    down = [0.0] * len(periods)
    for name in MOVEMENTS:
        values = [float(v or 0) for v in moved[name]]
        if name in _LOSSES:
            heights = [-v for v in values]
            axes.bar(positions, heights, bottom=down, color=_COLOURS[name], label=name)
            down = [d + h for d, h in zip(down, heights, strict=True)]
        else:
            axes.bar(positions, values, bottom=up, color=_COLOURS[name], label=name)
            up = [u + v for u, v in zip(up, values, strict=True)]
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel("MRR moved")
    step = max(1, len(periods) // 12)
    axes.set_xticks(positions[::step], list(periods)[::step], rotation=45, ha="right")
    line = axes.twinx()
    line.plot(positions, [float(v or 0) for v in level], color="black", label="MRR")
    line.set_ylabel("MRR")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize="small")
    return axes
