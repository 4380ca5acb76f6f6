"""Dashboard pages without a browser: escaping, problems shown by name, role limits."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.api import ApiHarness


@pytest.fixture
def api(api_any: ApiHarness) -> ApiHarness:
    """Every test here on both control planes: SQLite (+DuckDB) and PostgreSQL."""
    return api_any


def _sign_in(api: ApiHarness, key: str) -> None:
    api.client.cookies.clear()
    form = api.client.get("/app/sign-in")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found is not None
    response = api.client.post(
        "/app/sign-in", data={"api_key": key, "csrf_token": found.group(1)}, follow_redirects=False
    )
    assert response.status_code == 303


def test_user_text_is_escaped(api: ApiHarness) -> None:
    created = api.client.post(
        "/v1/cohorts",
        json={"name": "<script>alert(1)</script>", "definition": {}},
        headers=api.headers(),
    )
    assert created.status_code == 201
    _sign_in(api, api.keys["test"])
    listing = api.client.get("/app/cohorts").text
    assert "<script>alert(1)</script>" not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing


def test_report_problems_name_the_parameter(api: ApiHarness) -> None:
    _sign_in(api, api.keys["test"])
    for query, name in [
        ("interval=fortnight", "interval"),
        ("date=2026-13-01", "date"),
        ("region=atlantis", "region"),
        ("fix_fx=maybe", "fix_fx"),
        ("breakdown=plan", "breakdown"),
    ]:
        page = api.client.get(f"/app/retention?{query}")
        assert page.status_code == 400, query
        assert f"&#39;{name}&#39;" in page.text or f"'{name}'" in page.text, query
        assert 'data-testid="report-error"' in page.text


def test_live_mode_has_no_test_banner(api: ApiHarness) -> None:
    _sign_in(api, api.keys["live"])
    page = api.client.get("/app/retention").text
    assert 'data-testid="test-banner"' not in page
    _sign_in(api, api.keys["test"])
    assert 'data-testid="test-banner"' in api.client.get("/app/cohorts").text


def test_pages_past_the_deadline_show_503_naming_the_setting(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's analytic pages (Compare, the cohort list's member counts, a
    cohort's page) read under the same request deadline as the API: past it the work is
    cancelled and the page says so, naming the setting."""
    from typing import Any

    from cohortd.cohorts import service as cohorts
    from cohortd.intelligence import service as intelligence
    from tests.concurrency.test_readers import HEAVY
    from tests.reports.test_http import settings_changed

    created = api.client.post(
        "/v1/cohorts", json={"name": "Everyone", "definition": {}}, headers=api.headers()
    ).json()
    _sign_in(api, api.keys["test"])
    heavy = HEAVY[api.warehouse.name]

    def heavy_read(*args: Any, **kwargs: Any) -> Any:
        api.warehouse.fetch_rows(heavy)  # minutes of work on the page's own reader
        raise AssertionError("the deadline should have stopped the query")

    fired = api.warehouse.deadlines_fired
    with settings_changed(api, query_timeout_seconds=0.5):
        monkeypatch.setattr(intelligence, "compare", heavy_read)
        monkeypatch.setattr(cohorts, "views", heavy_read)
        for path in ("/app/compare", "/app/cohorts", f"/app/cohorts/{created['id']}"):
            page = api.client.get(path)
            assert page.status_code == 503, path
            assert "COHORTD_QUERY_TIMEOUT_SECONDS" in page.text, path
    assert api.warehouse.deadlines_fired == fired + 3
    assert api.warehouse.readers_in_flight == 0
    monkeypatch.undo()
    assert api.client.get("/app/compare").status_code == 200
