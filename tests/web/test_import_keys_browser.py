"""Import, keys, sign-in safety and the mode switch, in a real browser."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from cohortd.keys.models import Role
from tests.web.conftest import Dashboard, screenshot, sign_in

pytestmark = pytest.mark.browser

# Row 1 is the header, so spreadsheet rows 2-4 are the three customers:
# row 3 has no created_at (required), row 4 a country that is not ISO 3166-1.
BAD_CUSTOMERS = (
    "id,name,country,created_at\n"
    "web-ok-1,Good Co,DE,2025-03-01T00:00:00Z\n"
    "web-bad-2,No Date Co,FR,\n"
    "web-bad-3,Nowhere Co,XX1,2025-03-02T00:00:00Z\n"
)


def test_bad_upload_shows_its_row_errors(page: Page, dashboard: Dashboard, tmp_path: Path) -> None:
    upload = tmp_path / "customers.csv"
    upload.write_text(BAD_CUSTOMERS, encoding="utf-8")
    sign_in(page, dashboard, next="/app/import")
    page.get_by_label("Customers").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url("**/app/import/imp_*")
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "failed", timeout=30_000)
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(2)
    first, second = errors.nth(0).locator("td"), errors.nth(1).locator("td")
    assert [first.nth(i).inner_text() for i in (0, 1, 2)] == ["customers.csv", "3", "created_at"]
    assert [second.nth(i).inner_text() for i in (0, 1, 2)] == ["customers.csv", "4", "country"]
    # Atomic: the good row 2 was not written either (SPEC §6).
    response = httpx.get(
        f"{dashboard.url}/v1/subscribers/web-ok-1", headers=dashboard.harness.headers("test")
    )
    assert response.status_code == 404
    screenshot(page, "import-errors-1280")


def test_keys_create_shows_secret_once_and_revoke(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next="/app/keys")
    page.get_by_label("Name").fill("read-only laptop")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("rk_test_") and len(secret) >= 8 + 32
    # The new key works on the API, as a viewer.
    who = httpx.get(f"{dashboard.url}/v1/cohorts", headers={"Authorization": f"Bearer {secret}"})
    assert who.status_code == 200
    page.goto(dashboard.url + "/app/keys")
    assert secret not in page.content()  # shown once, never again
    row = page.locator("tr", has_text="read-only laptop")
    row.get_by_role("button", name="Revoke key read-only laptop").click()
    expect(page.locator("tr", has_text="read-only laptop")).to_contain_text("revoked")
    gone = httpx.get(f"{dashboard.url}/v1/cohorts", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401
    screenshot(page, "keys-1280")


def test_viewer_key_can_look_and_session_cookie_is_safe(page: Page, dashboard: Dashboard) -> None:
    viewer = dashboard.harness.new_key(Role.viewer)
    sign_in(page, dashboard, key=viewer, next="/app/retention")
    expect(page.locator("#heatmap")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["cohortd_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert all(viewer not in c["value"] for c in cookies.values())
    page.goto(dashboard.url + "/app/keys")
    expect(page.get_by_role("alert")).to_contain_text("Only an admin key")
    page.goto(dashboard.url + "/app/cohorts")
    expect(page.get_by_role("link", name="New rule cohort")).to_have_count(0)


def test_wrong_key_is_refused_without_echo(page: Page, dashboard: Dashboard) -> None:
    wrong = "rk_test_" + "x" * 40
    sign_in(page, dashboard, key=wrong)
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert wrong not in page.content()


def test_form_without_csrf_token_is_refused(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard)
    # Same browser, same session cookie, but no token: a forged form post.
    response = page.request.post(
        dashboard.url + "/app/keys", form={"role": "admin", "name": "forged"}
    )
    assert response.status == 403
    page.goto(dashboard.url + "/app/keys")
    expect(page.locator("tr", has_text="forged")).to_have_count(0)


def test_mode_switch_needs_a_key_of_that_mode(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, next="/app/retention")
    expect(page.get_by_test_id("test-banner")).to_be_visible()
    page.get_by_test_id("mode-switch").click()
    # No live key in this session yet: the switch asks for one.
    expect(page.get_by_role("status")).to_contain_text("sign in with a live key")
    page.get_by_label("API key").fill(dashboard.harness.keys["live"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("test-banner")).to_have_count(0)
    # Live mode has no data: the page says so rather than showing test numbers.
    expect(page.locator("#heatmap tbody td.cell")).to_have_count(0)
    page.get_by_test_id("mode-switch").click()
    expect(page.get_by_test_id("test-banner")).to_be_visible()
