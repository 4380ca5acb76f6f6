"""Every page works from the keyboard: Tab reaches every control, and every input,
select and textarea has a label (at 1280 px; phone screenshots at 390 px)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import REPORT_DATE, Dashboard, screenshot, sign_in

pytestmark = pytest.mark.browser

# Marks each reachable control with an index; radios count once per group (Tab enters a
# group on its checked radio, arrows move inside it), like the heatmap's roving cell.
_MARK_CONTROLS = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex="0"]';
  const seenGroups = new Set();
  const marked = [];
  document.querySelectorAll(selector).forEach((el, i) => {
    if (el.disabled) return;
    if (el.type === 'radio') {
      if (seenGroups.has(el.name)) return;
      seenGroups.add(el.name);
      el.closest('fieldset').querySelectorAll('input[type=radio]')
        .forEach(r => r.dataset.group = el.name);
      el.dataset.control = 'radio:' + el.name;
    } else {
      el.dataset.control = 'c' + i;
    }
    marked.push(el.dataset.control);
  });
  return marked;
}"""

_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el) return null;
  if (el.dataset.group) return 'radio:' + el.dataset.group;
  return el.dataset.control || null;
}"""

_UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea'))
  .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))"""


def _tab_through(page: Page) -> None:
    controls = page.evaluate(_MARK_CONTROLS)
    assert controls, "a page without controls?"
    page.locator("body").focus()
    reached: set[str] = set()
    for _ in range(len(controls) + 10):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused:
            reached.add(focused)
    missing = [c for c in controls if c not in reached]
    assert not missing, f"Tab never reached {missing} on {page.url}"
    assert page.evaluate(_UNLABELLED) == [], page.url


PAGES = [
    f"/app/overview?end_date={REPORT_DATE}",
    f"/app/retention?date={REPORT_DATE}&interval=quarter",
    "/app/cohorts",
    "/app/cohorts/new",
    "/app/compare",
    "/app/anomalies",
    "/app/import",
    "/app/keys",
    "/app/webhooks",
]


@pytest.mark.parametrize("path", PAGES)
def test_tab_reaches_every_control_and_inputs_are_labelled(
    page: Page, dashboard: Dashboard, path: str
) -> None:
    sign_in(page, dashboard, next=path)
    # Test mode is unmistakable on every page.
    expect(page.get_by_test_id("test-banner")).to_be_visible()
    _tab_through(page)


def test_cohort_page_keyboard_and_labels(page: Page, dashboard: Dashboard) -> None:
    created = httpx.post(
        f"{dashboard.url}/v1/cohorts",
        json={"name": "Everyone", "definition": {}},
        headers=dashboard.harness.headers("test"),
    )
    assert created.status_code == 201, created.text
    sign_in(page, dashboard, next=f"/app/cohorts/{created.json()['id']}")
    _tab_through(page)


def test_sign_in_page_keyboard_and_label(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "/app/sign-in")
    _tab_through(page)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "sign-in-390")


def test_heatmap_arrow_keys_move_between_cells(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next=f"/app/retention?date={REPORT_DATE}&interval=quarter")
    first = page.locator("#heatmap td.cell").first
    first.focus()
    page.keyboard.press("ArrowRight")
    focused = page.evaluate(
        "[document.activeElement.dataset.k, document.activeElement.closest('tr').dataset.cohort]"
    )
    first_row = page.locator("#heatmap tbody tr").first.get_attribute("data-cohort")
    assert focused == ["1", first_row]
    page.keyboard.press("ArrowDown")
    second_row = page.locator("#heatmap tbody tr").nth(1).get_attribute("data-cohort")
    assert page.evaluate("document.activeElement.closest('tr').dataset.cohort") == second_row
    # Focus shows the same exact numbers as hover.
    expect(page.locator("#cell-tip")).to_be_visible()
    expect(page.locator("#cell-tip")).to_contain_text(f"{second_row}, period 1")
    page.keyboard.press("Escape")
    expect(page.locator("#cell-tip")).to_be_hidden()
    # A clicked cell becomes the grid's current (only focusable) cell; arrows go on from it.
    third = page.locator("#heatmap tbody tr").nth(2)
    third.locator("td.cell").nth(0).click()
    page.keyboard.press("ArrowRight")
    assert page.evaluate(
        "[document.activeElement.dataset.k, document.activeElement.closest('tr').dataset.cohort]"
    ) == ["1", third.get_attribute("data-cohort")]
    assert page.locator('#heatmap td.cell[tabindex="0"]').count() == 1


@pytest.mark.parametrize(
    "path,name", [("/app/cohorts", "cohorts-390"), ("/app/import", "import-390")]
)
def test_phone_width_screenshots(page: Page, dashboard: Dashboard, path: str, name: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, dashboard, next=path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, name)
