"""Cohort intelligence in a real browser: snapshots and the vintage curve on the cohort
page, the NRR ranking and the anomalies list are the API's numbers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Dashboard, screenshot, sign_in

pytestmark = pytest.mark.browser


def _generate_definitions(dashboard: Dashboard) -> None:
    response = httpx.post(
        f"{dashboard.url}/api/cohorts/definitions",
        headers=dashboard.harness.headers("test"),
        timeout=120,
    )
    assert response.status_code in (200, 201), response.text


def _number(text: str) -> float | None:
    return None if text.strip() == "—" else float(text.replace(",", ""))


def test_cohort_page_snapshots_and_curve_equal_api(page: Page, dashboard: Dashboard) -> None:
    _generate_definitions(dashboard)
    cohorts = dashboard.api("/v1/cohorts", cohort_type="vintage", limit="100")["data"]
    biggest = max(cohorts, key=lambda c: c["member_count"])
    sign_in(page, dashboard, next=f"/app/cohorts/{biggest['id']}")
    expect(page.locator("#member-count")).to_have_text(f"{biggest['member_count']:,}")

    snapshots = dashboard.api(f"/v1/cohorts/{biggest['id']}/snapshots")["data"]
    rows = page.locator("#snapshots-table tbody tr")
    expect(rows).to_have_count(len(snapshots))
    for index, snap in enumerate(snapshots):
        row = rows.nth(index)
        assert row.get_attribute("id") == f"snap-{snap['period_start']}"
        nrr = row.get_attribute("data-nrr")
        assert (None if nrr == "None" else float(nrr or "nan")) == snap["nrr"]
    # The charts embed the API's answers verbatim, and uPlot drew them.
    embedded: list[dict[str, Any]] = page.evaluate(
        "JSON.parse(document.getElementById('snapshots-data').textContent)"
    )
    assert embedded == snapshots
    curve = dashboard.api(f"/v1/cohorts/{biggest['id']}/curve")
    shown_curve = page.evaluate("JSON.parse(document.getElementById('curve-data').textContent)")
    assert shown_curve["periods"] == curve["periods"]
    expect(page.locator("#nrr-chart canvas")).to_have_count(1)
    expect(page.locator("#curve-chart canvas")).to_have_count(1)
    screenshot(page, "cohort-detail-1280")


def test_compare_ranks_as_the_api(page: Page, dashboard: Dashboard) -> None:
    _generate_definitions(dashboard)
    # June 2026, the demo data's last month: vintages move differently there.
    api = dashboard.api("/v1/cohorts/compare", cohort_type="vintage", period="2026-06")
    sign_in(page, dashboard, next="/app/compare")
    page.get_by_label("Period").fill("2026-06")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**period=2026-06**")
    rows = page.locator("#compare-table tbody tr")
    expect(rows).to_have_count(len(api["data"]))
    shown = [
        (row.get_attribute("data-cohort-id"), _number(row.locator("td.nrr").inner_text()))
        for row in rows.all()
    ]
    assert shown == [(e["cohort_id"], e["nrr"]) for e in api["data"]]
    flags = {e["flag"] for e in api["data"]}
    assert {"best", "worst"} <= flags, api["data"]
    for flag in ("best", "worst"):
        expect(page.locator(f"tr.flag-{flag} .badge.{flag}")).to_have_count(
            sum(1 for e in api["data"] if e["flag"] == flag)
        )
    screenshot(page, "compare-1280")


def test_anomalies_after_a_run_link_to_their_snapshot(page: Page, dashboard: Dashboard) -> None:
    _generate_definitions(dashboard)
    # Raise the low-NRR bar above 100 % so that a flat month is flagged: the run then
    # surely raises anomalies (a cohort keeping its MRR has NRR 100 < 150 -> warning).
    settings = httpx.put(
        f"{dashboard.url}/v1/settings/anomalies",
        json={"low_nrr_warning": 150},
        headers=dashboard.harness.headers("test"),
    )
    assert settings.status_code == 200, settings.text
    sign_in(page, dashboard, next="/app/anomalies")
    # A run records every cohort (generated ones included): allow it minutes, not seconds.
    page.set_default_timeout(240_000)
    page.get_by_role("button", name="Record snapshots now").click()
    # the run is a job: the page follows it (refreshing itself) until it ended
    page.wait_for_url("**/app/anomalies?run=snaprun_*")
    expect(page.locator("#snapshot-run")).to_have_attribute(
        "data-status", "succeeded", timeout=240_000
    )
    expect(page.locator("#snapshot-run")).to_contain_text("cohorts recorded")
    api = dashboard.api("/v1/anomalies", limit="100")["data"]
    rows = page.locator("#anomalies-table tbody tr[data-anomaly-id]")
    expect(rows).to_have_count(len(api))
    assert [r.get_attribute("data-anomaly-id") for r in rows.all()] == [a["id"] for a in api]
    assert api, "the raised threshold must flag at least one cohort"
    # low_nrr is raised for the month starting on its period: that snapshot's row.
    first = next(a for a in api if a["type"] == "low_nrr")
    assert first["period"].endswith("-01")
    row = page.locator(f'tr[data-anomaly-id="{first["id"]}"]')
    link = row.get_by_role("link", name=f"for {first['period']}")
    anchor = f"snap-{first['period']}"
    assert link.get_attribute("href") == f"/app/cohorts/{first['cohort_id']}#{anchor}"
    link.click()
    page.wait_for_url(f"**/app/cohorts/{first['cohort_id']}#{anchor}")
    expect(page.locator(f"#{anchor}")).to_be_visible()
    page.goto(dashboard.url + "/app/anomalies")
    screenshot(page, "anomalies-1280")
