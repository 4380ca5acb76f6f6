"""Shared helpers of the report tests: run a report from query parameters, compare."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from cohortd.reports.service import ReportParams, cohort_report, parse_query
from cohortd.warehouse import Scope, Warehouse


def params_of(url: str) -> ReportParams:
    """``ReportParams`` from a URL's query string (``+``/``%20`` decode to spaces)."""
    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    return ReportParams(**query)


def run(
    warehouse: Warehouse,
    scope: Scope,
    url_or_params: str | ReportParams,
    *,
    base: str = "USD",
    max_cells: int = 1_000_000,
) -> dict[str, Any]:
    """The response body the endpoint would give for ``url_or_params``."""
    params = params_of(url_or_params) if isinstance(url_or_params, str) else url_or_params
    query, fmt = parse_query(params, default_currency=base)
    return cohort_report(warehouse, scope, query, fmt, max_cells=max_cells, timeout_seconds=120.0)


def differences(got: Any, want: Any, path: str = "", tolerance: float = 0.01) -> list[str]:
    """Every place two JSON bodies differ (numbers within ``tolerance``, keys exactly)."""
    found: list[str] = []
    if isinstance(want, dict):
        if not isinstance(got, dict) or list(got) != list(want):
            return [
                f"{path}: keys {got if not isinstance(got, dict) else list(got)} != {list(want)}"
            ]
        for key in want:
            found += differences(got[key], want[key], f"{path}.{key}", tolerance)
    elif isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: length {len(got) if isinstance(got, list) else got} != {len(want)}"]
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            found += differences(g, w, f"{path}[{i}]", tolerance)
    elif isinstance(want, float) and not isinstance(want, bool):
        if not isinstance(got, int | float) or abs(got - want) > tolerance + 1e-9:
            found.append(f"{path}: {got} != {want}")
    elif got != want or type(got) is not type(want):
        found.append(f"{path}: {got!r} != {want!r}")
    return found


def period(body: dict[str, Any], group: str, k: int) -> dict[str, Any]:
    """Period ``k`` of the row named ``group`` in a list-format body."""
    for row in body["result"]["list"]:
        if row["cohort_group"] == group:
            return row["periods"][k]  # type: ignore[no-any-return]
    raise KeyError(group)


def row(body: dict[str, Any], group: str) -> dict[str, Any]:
    for found in body["result"]["list"]:
        if found["cohort_group"] == group:
            return found  # type: ignore[no-any-return]
    raise KeyError(group)
