"""The Overview page in a real browser at 1280 and 390 px: every tile, every bar and the
table behind the chart are the API's numbers (``GET /v1/metrics`` asked the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import REPORT_DATE, Dashboard, screenshot, sign_in

pytestmark = pytest.mark.browser

QUERY = f"interval=month&end_date={REPORT_DATE}"
BARS = {
    "Expansion": (1, ["new_mrr", "reactivation_mrr", "expansion_mrr"]),
    "Reactivation": (1, ["new_mrr", "reactivation_mrr"]),
    "New": (1, ["new_mrr"]),
    "Churn": (-1, ["contraction_mrr", "churn_mrr"]),
    "Contraction": (-1, ["contraction_mrr"]),
}


def _number(text: str | None) -> float | None:
    return None if text in (None, "None") else float(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", [1280, 390])
def test_tiles_bars_and_table_equal_the_api(page: Page, dashboard: Dashboard, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, dashboard, next=f"/app/overview?{QUERY}")
    assert page.url.endswith(f"/app/overview?{QUERY}")
    body = dashboard.api("/v1/metrics", interval="month", end_date=REPORT_DATE)
    last = body["entries"][-1]
    tiles = page.locator("#tiles .tile")
    expect(tiles).to_have_count(9)
    for index in range(9):
        tile = tiles.nth(index)
        field = tile.get_attribute("data-field")
        assert field is not None
        series = dashboard.api(f"/v1/metrics/{field}", interval="month", end_date=REPORT_DATE)
        assert _number(tile.get_attribute("data-value")) == last[field], field
        assert (
            _number(tile.get_attribute("data-change")) == series["entries"][-1]["percentage_change"]
        ), field
        expect(tile).to_be_visible()
    # the bars uPlot drew: the cumulative movements of each period, from the API's entries
    drawn: dict[str, Any] = page.evaluate("window.cohortdOverview")
    assert drawn["labels"] == [e["date"] for e in body["entries"]]
    for label, (sign, names) in BARS.items():
        expected = [sign * sum(e[n] for n in names) for e in body["entries"]]
        assert drawn["bars"][label] == pytest.approx(expected, abs=1e-9), label
    assert any(v != 0 for v in drawn["bars"]["Expansion"])
    canvas = page.locator("#mrr-chart canvas").first
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    rows = page.locator("#metrics-table tbody tr")
    expect(rows).to_have_count(len(body["entries"]))
    for index, entry in enumerate(body["entries"]):
        mrr = rows.nth(index).locator("td[data-field=mrr]").text_content() or ""
        assert float(mrr.replace(",", "")) == entry["mrr"]
    screenshot(page, f"overview-{width}")


def test_first_page_csv_and_a_named_error(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard)
    assert "/app/overview" in page.url  # the dashboard opens on the Overview
    expect(page.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    page.goto(f"{dashboard.url}/app/overview?{QUERY}")
    with page.expect_download() as download:
        page.locator("#csv-download").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    csv_api = httpx.get(
        f"{dashboard.url}/v1/metrics",
        params={"interval": "month", "end_date": REPORT_DATE},
        headers=dashboard.harness.headers("test"),
        timeout=60,
    ).json()
    lines = text.strip().splitlines()
    assert len(lines) == len(csv_api["entries"]) + 1 and lines[0].startswith("date,period_start")
    page.goto(f"{dashboard.url}/app/overview?interval=fortnight")
    expect(page.get_by_test_id("metrics-error")).to_contain_text("interval")
