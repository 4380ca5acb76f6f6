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
