"""A run computed for all cohorts together equals the one-cohort-at-a-time reference
(``reference_run``), on the worked example and on generated data of several seeds, on
both stacks: the same member ids, scores and findings (NRR, churn counts, health,
vintage curves), in the same order."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.fixtures.api import ApiHarness
from tests.fixtures.example_small import load as load_example
from tests.fixtures.example_small import small_dataset
from tests.intelligence.reference_run import reference_outcome

from cohortd.demo.generator import DemoConfig, write_demo_data
from cohortd.engine.membership import utc_today
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import run_import
from cohortd.intelligence import runs
from cohortd.intelligence.service import Caller
from cohortd.warehouse import Scope


def _compare(api: ApiHarness, caller: Caller, today: date) -> runs.Outcome:
    generated = api.client.post("/api/cohorts/definitions", headers=api.headers("test"))
    assert generated.status_code == 200, generated.text
    custom = api.client.post(
        "/v1/cohorts",
        headers=api.headers("test"),
        json={"name": "active", "definition": {"status": ["active"], "tenure_days_min": 30}},
    )
    assert custom.status_code == 201, custom.text
    with api.app.state.sessions() as session:
        inputs = runs.read_inputs(session, caller)
        batched = runs.compute(api.warehouse, caller, inputs, today=today)
        reference = reference_outcome(session, api.warehouse, caller, inputs, today)
    assert [r.cohort_id for r in batched.recordings] == [r.cohort_id for r in reference.recordings]
    for got, expected in zip(batched.recordings, reference.recordings, strict=True):
        assert got == expected, got.cohort_id
    assert batched.findings == reference.findings
    return batched


def test_run_equals_reference_on_the_example(api_any: ApiHarness) -> None:
    scope = Scope(api_any.org_id, False)
    load_example(api_any.warehouse, scope, small_dataset())
    outcome = _compare(api_any, Caller(api_any.org_id, False, "USD"), utc_today())
    assert len(outcome.recordings) >= 2


def test_run_equals_reference_on_generated_data(api_any: ApiHarness, tmp_path: Path) -> None:
    # 80 customers signing up over the last ~2.5 years: about ten vintages (more than the
    # four peers lagging_vintage needs), segments, territories and reps
    today = utc_today()
    start = date(today.year - 3, 1, 1) if today.month < 7 else date(today.year - 2, 1, 1)
    files = write_demo_data(tmp_path, DemoConfig(customers=80, seed=11, start=start))
    outcome = run_import(
        api_any.warehouse,
        Scope(api_any.org_id, False),
        [
            ImportSource(ImportKind.customers, files.customers_path, "customers.csv"),
            ImportSource(ImportKind.subscriptions, files.subscriptions_path, "subscriptions.csv"),
        ],
    )
    assert outcome.succeeded, outcome.problems
    found = _compare(api_any, Caller(api_any.org_id, False, "USD"), utc_today())
    vintages = [r for r in found.recordings if r.member_ids]
    assert len(vintages) > 5  # auto cohorts with members: the comparison is not vacuous
