"""The Retention page in a real browser: its cells are the API's numbers, every parameter
is a control, and the picture is saved at desktop and phone widths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import REPORT_DATE, Dashboard, screenshot, sign_in

pytestmark = pytest.mark.browser

_READ_HEATMAP = """() => Array.from(document.querySelectorAll('#heatmap tbody tr')).map(tr => ({
  cohort: tr.dataset.cohort,
  cells: Array.from(tr.querySelectorAll('td.cell')).map(td => ({
    k: Number(td.dataset.k), value: Number(td.dataset.value),
    complete: !td.classList.contains('incomplete'), text: td.firstChild.textContent.trim(),
  })),
}))"""


def _shown(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(_READ_HEATMAP)  # type: ignore[no-any-return]


def _assert_same_numbers(shown: list[dict[str, Any]], envelope: dict[str, Any], field: str) -> None:
    """Row by row, cell by cell: the value shown is the API's value of ``field``."""
    rows = envelope["result"]["list"]
    assert [r["cohort"] for r in shown] == [r["cohort_group"] for r in rows]
    for row_shown, row in zip(shown, rows, strict=True):
        assert [c["value"] for c in row_shown["cells"]] == [p[field] for p in row["periods"]]
        assert [c["complete"] for c in row_shown["cells"]] == [
            p["complete"] for p in row["periods"]
        ]


def test_sign_in_then_heatmap_equals_api_then_controls(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next=f"/app/retention?date={REPORT_DATE}")
    expect(page.get_by_test_id("test-banner")).to_be_visible()
    expect(page.locator("#heatmap")).to_be_visible()

    # Monthly, time-based: every MRR-retention cell is the API's, row order included.
    api = dashboard.api("/v1/reports/cohort", date=REPORT_DATE, interval="month")
    shown = _shown(page)
    _assert_same_numbers(shown, api, "mrr_retention")
    assert shown[-1]["cohort"] == "average"
    # 2026-06-15 is mid-June: June's cells (the last of each cohort row) are incomplete.
    assert all(not row["cells"][-1]["complete"] for row in shown if row["cells"])
    assert page.locator("td.cell.incomplete .mark").count() > 0
    # Text is the value with two decimals and a percent sign, e.g. 100 -> "100.00%".
    first = shown[0]["cells"][0]
    assert first["text"] == f"{first['value']:,.2f}%"

    # Change interval and breakdown through the controls, as a user would.
    page.get_by_label("Interval").select_option("quarter")
    page.get_by_label("Breakdown").select_option("country")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    expect(page.get_by_label("Interval")).to_have_value("quarter")
    api = dashboard.api(
        "/v1/reports/cohort", date=REPORT_DATE, interval="quarter", breakdown="country"
    )
    _assert_same_numbers(_shown(page), api, "mrr_retention")

    # The measure switch: customers, then churn; the switches apply on change.
    controls = page.get_by_role("form", name="Report parameters")
    controls.get_by_text("Customers", exact=True).click()
    page.wait_for_url("**measure=customers**")
    _assert_same_numbers(_shown(page), api, "customer_retention")
    controls.get_by_text("Churn", exact=True).click()
    page.wait_for_url("**view=churn**")
    _assert_same_numbers(_shown(page), api, "customer_churn")
    controls.get_by_text("Gross (MRR)", exact=True).click()
    page.wait_for_url("**view=gross**")
    _assert_same_numbers(_shown(page), api, "mrr_retention_gross")


_READ_EVERY_NUMBER = """() => ({
  rows: Array.from(document.querySelectorAll('#heatmap tbody tr')).map(tr => ({
    cohort: tr.dataset.cohort,
    initial: Array.from(tr.querySelectorAll('td.initial')).map(td => td.textContent.trim()),
    texts: Array.from(tr.querySelectorAll('td.cell')).map(td => td.firstChild.textContent.trim()),
  })),
  details: JSON.parse(document.getElementById('heatmap-details').textContent),
})"""

# The hover texts, in the order of the tooltip's labels: (report field, how it is written).
_HOVER = [
    ("mrr_retained", "money"),
    ("customers_retained", "count"),
    ("mrr_retention", "%"),
    ("customer_retention", "%"),
    ("mrr_retention_relative", "%"),
    ("customer_retention_relative", "%"),
    ("mrr_churn", "%"),
    ("customer_churn", "%"),
    ("mrr_churn_relative", "%"),
    ("customer_churn_relative", "%"),
    ("mrr_retention_gross", "%"),
    ("mrr_retained_gross", "money"),
]


def test_every_number_on_the_page_is_the_apis(page: Page, dashboard: Dashboard) -> None:
    """Not only the cells' values: their texts, the initial customers and MRR columns and
    every hover text are the API's numbers, written with two decimals."""
    sign_in(page, dashboard, next=f"/app/retention?date={REPORT_DATE}")
    api = dashboard.api("/v1/reports/cohort", date=REPORT_DATE, interval="month")
    shown = page.evaluate(_READ_EVERY_NUMBER)
    currency = api["currency"]

    def written(value: float, kind: str) -> str:
        if kind == "count":
            return f"{value:,}"
        return f"{value:,.2f}%" if kind == "%" else f"{value:,.2f} {currency}"

    rows = api["result"]["list"]
    assert [r["cohort"] for r in shown["rows"]] == [r["cohort_group"] for r in rows]
    assert len(shown["details"]["labels"]) == len(_HOVER)
    for r, (row_shown, row) in enumerate(zip(shown["rows"], rows, strict=True)):
        if row["cohort_group"] == "average":
            assert row_shown["initial"] == ["", ""]
        else:
            assert row_shown["initial"] == [
                f"{row['initial_customers']:,}",
                f"{row['initial_mrr']:,.2f}",
            ]
        periods = row["periods"]
        assert row_shown["texts"] == [written(p["mrr_retention"], "%") for p in periods]
        assert shown["details"]["rows"][r] == [
            [written(p[name], kind) for name, kind in _HOVER] for p in periods
        ]


def test_hover_shows_exact_numbers_and_downloads(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next=f"/app/retention?date={REPORT_DATE}&interval=quarter")
    api = dashboard.api("/v1/reports/cohort", date=REPORT_DATE, interval="quarter")
    first_row = api["result"]["list"][0]
    cell = page.locator("#heatmap tbody tr").first.locator("td.cell").nth(1)
    cell.hover()
    tip = page.locator("#cell-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(f"{first_row['cohort_group']}, period 1")
    period = first_row["periods"][1]
    expect(tip).to_contain_text(f"{period['customers_retained']:,}")
    expect(tip).to_contain_text(f"{period['mrr_retained']:,.2f} {api['currency']}")
    screenshot(page, "retention-hover-1280")

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download CSV").click()
    lines = Path(csv_download.value.path()).read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["cohort_group", "initial_customers", "initial_mrr", "period"]
    # One line per (cohort, period) of the API's list, average included.
    assert len(lines) - 1 == sum(len(r["periods"]) for r in api["result"]["list"])

    with page.expect_download() as png_download:
        page.get_by_role("button", name="Download PNG").click()
    data = Path(png_download.value.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_bad_parameter_is_shown_naming_it(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard)
    page.goto(dashboard.url + "/app/retention?baseCurrency=ZZZ")
    expect(page.get_by_test_id("report-error")).to_contain_text("baseCurrency")


def test_screenshots_desktop_and_phone(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next=f"/app/retention?date={REPORT_DATE}")
    expect(page.locator("#heatmap")).to_be_visible()
    screenshot(page, "retention-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#heatmap")).to_be_visible()
    # At 390 px the controls wrap and the triangle scrolls inside its own box.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "retention-390")
