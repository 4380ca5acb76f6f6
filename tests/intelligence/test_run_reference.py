"""A run computed for all cohorts together equals the one-cohort-at-a-time reference
(``reference_run``), on the worked example and on generated data of several seeds, on
both stacks: the same member ids, scores and findings (NRR, churn counts, health,
vintage curves), in the same order."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from tests.fixtures.api import ApiHarness
from tests.fixtures.example_small import load as load_example
from tests.fixtures.example_small import small_dataset
from tests.intelligence.reference_run import reference_outcome

from cohortd import clock
from cohortd.cohorts import service as cohorts
from cohortd.demo.generator import DemoConfig, write_demo_data
from cohortd.engine import batched, curves
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import run_import
from cohortd.intelligence import runs
from cohortd.intelligence.service import Caller
from cohortd.warehouse import Scope


def _compare(
    api: ApiHarness, caller: Caller, today: date, custom: list[dict[str, object]], *, auto: bool
) -> runs.Outcome:
    if auto:
        generated = api.client.post("/api/cohorts/definitions", headers=api.headers("test"))
        assert generated.status_code == 200, generated.text
    for number, definition in enumerate(custom):
        made = api.client.post(
            "/v1/cohorts",
            headers=api.headers("test"),
            json={"name": f"custom {number}", "definition": definition},
        )
        assert made.status_code == 201, made.text
    with api.app.state.sessions() as session:
        inputs = runs.read_inputs(session, caller)
        together = runs.compute(api.warehouse, caller, inputs, today=today)
        reference = reference_outcome(session, api.warehouse, caller, inputs, today)
    assert [r.cohort_id for r in together.recordings] == [r.cohort_id for r in reference.recordings]
    for got, expected in zip(together.recordings, reference.recordings, strict=True):
        assert got == expected, got.cohort_id
    assert together.findings == reference.findings
    return together


def test_run_equals_reference_on_the_example(api_any: ApiHarness) -> None:
    scope = Scope(api_any.org_id, False)
    load_example(api_any.warehouse, scope, small_dataset())
    custom: list[dict[str, object]] = [
        {},
        {"countries": ["US"]},
        {"status": ["active"], "tenure_days_min": 30},
        {"currencies": ["EUR", "GBP"]},
    ]
    outcome = _compare(
        api_any, Caller(api_any.org_id, False, "USD"), clock.today(), custom, auto=False
    )
    assert sum(1 for r in outcome.recordings if r.member_ids) >= 3


@pytest.mark.timeout(900)  # the one-cohort-at-a-time reference is slow on a loaded machine
def test_run_equals_reference_on_generated_data(api_any: ApiHarness, tmp_path: Path) -> None:
    # 30 customers signing up over the last ~2 years: about eight vintages (more than the
    # four peers lagging_vintage needs), segments, territories and reps
    today = clock.today()
    start = date(today.year - 2, 1, 1)
    files = write_demo_data(tmp_path, DemoConfig(customers=30, seed=11, start=start))
    outcome = run_import(
        api_any.warehouse,
        Scope(api_any.org_id, False),
        [
            ImportSource(ImportKind.customers, files.customers_path, "customers.csv"),
            ImportSource(ImportKind.subscriptions, files.subscriptions_path, "subscriptions.csv"),
        ],
    )
    assert outcome.succeeded, outcome.problems
    caller = Caller(api_any.org_id, False, "USD")
    custom: list[dict[str, object]] = [{"status": ["active"], "tenure_days_min": 30}]
    found = _compare(api_any, caller, clock.today(), custom, auto=True)
    vintages = [r for r in found.recordings if r.member_ids]
    assert len(vintages) > 5  # auto cohorts with members: the comparison is not vacuous
    _curves_equal(api_any, caller)


def _curves_equal(api: ApiHarness, caller: Caller) -> None:
    """Every cohort's curve drawn by one grouped report equals its own curve (vintage and
    segment cohorts together: groups that overlap must not disturb each other)."""
    today = clock.today()
    with api.app.state.sessions() as session:
        rows = [
            r
            for r in runs.read_inputs(session, caller).cohorts
            if r.cohort_type in ("vintage", "segment")
        ]
        named = [(r.id, cohorts.engine_definition(r)) for r in rows]
        with batched.member_relation(
            api.warehouse, caller.scope, named, as_of=today, today=today
        ) as relation:
            together = curves.vintage_curves(
                api.warehouse, caller.scope, relation, [r.id for r in rows],
                today=today, base_currency="USD", months=curves.MAX_MONTHS,
            )  # fmt: skip
        for row, curve in zip(rows, together, strict=True):
            members = cohorts.cohort_members_table(session, api.warehouse, caller, row.id, today)
            alone = curves.vintage_curve(
                api.warehouse, caller.scope, members, today=today, base_currency="USD",
                months=curves.MAX_MONTHS,
            )  # fmt: skip
            assert curve == alone, row.name
