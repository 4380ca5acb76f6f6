"""The global-SaaS demo data (``cohortd demo-data --shape global-saas``) imports through
``POST /v1/imports`` with its events, on both stacks.

Its customers include ones billed in one currency with add-ons in another: the events'
diff converts those rows on the day before each change and on today, and an import
whose rates for those days were not loaded stopped on an internal error."""

from __future__ import annotations

from pathlib import Path

from cohortd.demo.catalog import Shape
from cohortd.demo.generator import DemoConfig, write_demo_data
from tests.fixtures.api import ApiHarness


def test_the_global_saas_demo_data_imports_with_its_events(
    api_any: ApiHarness, tmp_path: Path
) -> None:
    files = write_demo_data(tmp_path, DemoConfig(customers=600, seed=3, shape=Shape.global_saas))
    created = api_any.client.post(
        "/v1/imports",
        headers=api_any.headers(),
        files={
            "customers": ("customers.csv", files.customers_path.read_bytes()),
            "subscriptions": ("subscriptions.csv", files.subscriptions_path.read_bytes()),
        },
    )
    assert created.status_code == 202, created.text
    job = api_any.client.get(
        f"/v1/imports/{created.json()['id']}", headers=api_any.headers()
    ).json()
    assert job["status"] == "succeeded", job
    answer = api_any.client.get(
        "/v1/events?type=subscription.*&limit=100", headers=api_any.headers()
    )
    found = answer.json()["data"]
    assert found, "the last 35 days of the data make subscription events"
    # some of them in another currency than USD: the converted customers made events too
    assert {e["subscription"]["currency"] for e in found} - {"USD"}
