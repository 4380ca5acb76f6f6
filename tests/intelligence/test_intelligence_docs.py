"""docs/intelligence.md stays true: every route, CLI option, threshold and anomaly type."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import typer.main

from cohortd.cli.intelligence import anomalies, curve, snapshot
from cohortd.engine.anomalies import AnomalyType, Thresholds
from cohortd.intelligence.endpoints import pillar_router, router

DOC = " ".join((Path(__file__).parents[2] / "docs" / "intelligence.md").read_text().split())


def _options(command) -> list[str]:  # type: ignore[no-untyped-def]
    built = typer.main.get_command_from_info(
        typer.models.CommandInfo(callback=command),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    return [o for p in built.params for o in getattr(p, "opts", []) if o.startswith("--")]


def test_every_cli_option_is_documented() -> None:
    options = {o for command in (snapshot, anomalies, curve) for o in _options(command)}
    assert "--org" in options
    assert sorted(o for o in options if o not in DOC) == []


def test_every_route_threshold_and_type_is_documented() -> None:
    paths = {route.path for r in (pillar_router, router) for route in r.routes}  # type: ignore[attr-defined]
    assert "/v1/cohorts/compare" in paths
    assert sorted(p for p in paths if p.replace("{cohort_id}", "{id}") not in DOC) == []
    assert sorted(f.name for f in fields(Thresholds) if f"`{f.name}`" not in DOC) == []
    assert sorted(t.value for t in AnomalyType if f"`{t.value}`" not in DOC) == []
