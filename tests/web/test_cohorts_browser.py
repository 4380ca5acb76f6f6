"""Cohorts in a real browser: a rule cohort built with the form shows the API's member
count; a bad rule shows each problem next to its field."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Dashboard, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_create_rule_cohort_from_form_and_see_its_members(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next="/app/cohorts")
    page.get_by_role("link", name="New rule cohort").click()
    page.get_by_label("Name").fill("Active, tenure 30+ days")
    page.get_by_label("active").check()
    page.get_by_label("Tenure at least (days)").fill("30")
    page.get_by_role("button", name="Save cohort").click()
    page.wait_for_url("**/app/cohorts/cohort_*")
    cohort_id = page.url.rsplit("/", 1)[1]

    # The page's count is the API's count for the same cohort (both evaluated today).
    api = dashboard.api(f"/v1/cohorts/{cohort_id}")
    given = {name: value for name, value in api["definition"].items() if value is not None}
    assert given == {"status": ["active"], "tenure_days_min": 30}
    shown = page.locator("#member-count").inner_text()
    assert int(shown.replace(",", "")) == api["member_count"]
    # 120 demo customers over 18 months: some are active with 30+ days of tenure.
    assert api["member_count"] > 0
    rows = page.locator("#members-table tbody tr")
    assert rows.count() == min(25, api["member_count"])
    screenshot(page, "cohort-1280")

    # Members are paged by 25, in the API's order: the first page, then "Next members".
    first = dashboard.api(f"/v1/cohorts/{cohort_id}/members", limit="25")
    assert page.locator("#members-table tbody tr td:first-child").all_inner_texts() == [
        m["id"] for m in first["data"]
    ]
    assert first["has_more"], "the demo cohort should hold more than one page"
    page.get_by_role("link", name="Next members").click()
    second = dashboard.api(
        f"/v1/cohorts/{cohort_id}/members", limit="25", starting_after=first["data"][-1]["id"]
    )
    expect(page.locator("#members-table tbody tr td:first-child")).to_have_text(
        [m["id"] for m in second["data"]]
    )
    expect(page.get_by_role("link", name="First members")).to_be_visible()

    page.get_by_role("link", name="Cohorts", exact=True).click()
    row = page.locator(f'tr[data-cohort-id="{cohort_id}"]')
    expect(row.locator(".member-count")).to_have_text(f"{api['member_count']:,}")
    screenshot(page, "cohorts-1280")


def test_bad_rule_shows_field_errors(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next="/app/cohorts/new")
    page.get_by_label("Name").fill("Impossible")
    page.get_by_label("Tenure at least (days)").fill("90")
    page.get_by_label("Tenure at most (days)").fill("10")
    page.get_by_label("Engagement score at least (0–1)").fill("1.5")
    page.get_by_role("button", name="Save cohort").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct 2 fields")
    expect(page.locator("#err-tenure_days_max")).to_contain_text("tenure_days_min")
    expect(page.locator("#err-engagement_score_min")).to_be_visible()
    # What was typed is kept.
    expect(page.get_by_label("Tenure at most (days)")).to_have_value("10")
    screenshot(page, "cohort-form-errors-1280")


def test_edit_rule_replaces_the_definition(page: Page, dashboard: Dashboard) -> None:
    created = httpx.post(
        f"{dashboard.url}/v1/cohorts",
        json={"name": "US and DE", "definition": {"countries": ["US", "DE"]}},
        headers=dashboard.harness.headers("test"),
    )
    assert created.status_code == 201, created.text
    cohort_id = created.json()["id"]
    sign_in(page, dashboard, next=f"/app/cohorts/{cohort_id}/edit")
    expect(page.get_by_label("Countries")).to_have_value("US DE")
    page.get_by_label("Countries").fill("DE")
    page.get_by_label("Currencies").fill("EUR")
    page.get_by_role("button", name="Save cohort").click()
    page.wait_for_url(f"**/app/cohorts/{cohort_id}")
    api = dashboard.api(f"/v1/cohorts/{cohort_id}")
    given = {name: value for name, value in api["definition"].items() if value is not None}
    assert given == {"countries": ["DE"], "currencies": ["EUR"]}
    expect(page.locator("#member-count")).to_have_text(f"{api['member_count']:,}")


def test_unknown_cohort_is_a_page_not_json(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard)
    response = page.goto(dashboard.url + "/app/cohorts/cohort_does_not_exist")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("cohort_does_not_exist")
    expect(page.get_by_role("link", name="Back")).to_have_attribute("href", "/app/cohorts")
