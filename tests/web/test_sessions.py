"""Dashboard sessions (no browser): the key is exchanged for a server-side session, the
cookie holds only a random token, revoking the key ends the session, forms need CSRF."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cohortd.db import utcnow
from cohortd.keys import service as keys
from cohortd.keys.models import Role
from cohortd.web import (
    auth_pages,
    cohort_pages,
    import_pages,
    intel_pages,
    keys_pages,
    retention_pages,
    sessions,
)
from cohortd.web.deps import CSRF_COOKIE, SESSION_COOKIE
from tests.fixtures.api import ApiHarness, new_org


@pytest.fixture
def api(api_any: ApiHarness) -> ApiHarness:
    """Every test here on both control planes: SQLite (+DuckDB) and PostgreSQL."""
    return api_any


def test_sign_in_stores_only_a_hash_and_the_key_id(api: ApiHarness) -> None:
    with api.app.state.sessions() as db:
        signed = sessions.sign_in(db, api.keys["test"], current=None)
        assert signed is not None and signed.token is not None
        row = signed.row
        assert row.token_hash == hashlib.sha256(signed.token.encode()).hexdigest()
        assert api.keys["test"] not in (row.token_hash, row.csrf_token, row.test_key_id)
        assert row.live_key_id is None and row.livemode is False
        viewer = sessions.viewer(db, row)
        assert viewer is not None
        assert viewer.principal.org_id == api.org_id and viewer.principal.role is Role.admin
        assert (viewer.has_test, viewer.has_live) == (True, False)
        db.commit()


def test_bad_keys_are_refused(api: ApiHarness) -> None:
    with api.app.state.sessions() as db:
        assert sessions.sign_in(db, "rk_test_" + "0" * 40, current=None) is None
        assert sessions.sign_in(db, "not a key", current=None) is None


def test_revoking_the_key_ends_the_session(api: ApiHarness) -> None:
    with api.app.state.sessions() as db:
        key = api.new_key(Role.viewer)
        signed = sessions.sign_in(db, key, current=None)
        assert signed is not None
        principal = sessions.viewer(db, signed.row)
        assert principal is not None
        keys.revoke_key(db, org_id=api.org_id, livemode=False, key_id=principal.principal.key_id)
        assert sessions.viewer(db, signed.row) is None


def test_a_session_expires_after_its_lifetime(api: ApiHarness) -> None:
    with api.app.state.sessions() as db:
        signed = sessions.sign_in(db, api.keys["test"], current=None)
        assert signed is not None and signed.token is not None
        db.commit()
        later = utcnow() + sessions.SESSION_LIFETIME + timedelta(seconds=1)
        assert sessions.find(db, signed.token) is not None
        assert sessions.find(db, signed.token, now=later) is None


def test_mode_switch_needs_a_key_of_that_mode_of_the_same_org(api: ApiHarness) -> None:
    with api.app.state.sessions() as db:
        signed = sessions.sign_in(db, api.keys["test"], current=None)
        assert signed is not None
        row = signed.row
        assert sessions.switch_mode(db, row, livemode=True) is False
        # A live key of the same organization joins the session (same cookie)...
        joined = sessions.sign_in(db, api.keys["live"], current=row)
        assert joined is not None and joined.token is None and joined.row is row
        assert row.livemode is True
        assert sessions.switch_mode(db, row, livemode=False) is True
        db.commit()  # SQLite: let the next connection write the other organization
        # ...a key of another organization starts a new session instead.
        other = new_org(api.app, name="Other Org")
        fresh = sessions.sign_in(db, other.keys["test"], current=row)
        assert fresh is not None and fresh.token is not None and fresh.row.org_id == other.org_id


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _signed_in(client: TestClient, key: str) -> str:
    client.cookies.clear()
    form = client.get("/app/sign-in")
    token = _csrf_of(form.text)
    response = client.post(
        "/app/sign-in", data={"api_key": key, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    return response.headers["set-cookie"]


def test_pages_need_a_session_and_remember_where_you_were_going(api: ApiHarness) -> None:
    api.client.cookies.clear()
    response = api.client.get("/app/cohorts?cohort_type=vintage", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in?next=/app/cohorts%3Fcohort_type%3Dvintage"


def test_cookie_flags_and_no_key_in_cookies(api: ApiHarness) -> None:
    set_cookie = _signed_in(api.client, api.keys["test"])
    assert f"{SESSION_COOKIE}=" in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
    assert "Secure" not in set_cookie  # plain http here
    assert all(api.keys["test"] not in value for value in api.client.cookies.values())


def test_cookie_is_secure_over_https(api: ApiHarness) -> None:
    # Not entered as a context manager: the shared app's lifespan is already running.
    client = TestClient(api.app, base_url="https://testserver")
    set_cookie = _signed_in(client, api.keys["test"])
    assert "Secure" in set_cookie


def test_sign_in_without_its_csrf_token_is_refused(api: ApiHarness) -> None:
    api.client.cookies.clear()
    api.client.get("/app/sign-in")
    assert api.client.cookies.get(CSRF_COOKIE)
    response = api.client.post(
        "/app/sign-in", data={"api_key": api.keys["test"], "csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_sign_out_deletes_the_session(api: ApiHarness) -> None:
    _signed_in(api.client, api.keys["test"])
    page = api.client.get("/app/keys")
    assert page.status_code == 200
    out = api.client.post(
        "/app/sign-out", data={"csrf_token": _csrf_of(page.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert api.client.get("/app/keys", follow_redirects=False).status_code == 303


def test_a_viewer_may_not_post_forms_that_write(api: ApiHarness) -> None:
    _signed_in(api.client, api.new_key(Role.viewer))
    page = api.client.get("/app/retention")
    token = _csrf_of(page.text)
    created = api.client.post("/app/keys", data={"role": "admin", "csrf_token": token})
    assert created.status_code == 403
    cohort = api.client.post("/app/cohorts/new", data={"name": "x", "csrf_token": token})
    assert cohort.status_code == 403


# Every form the dashboard posts, with its fields but without the CSRF token. A new POST
# route must be added here (the test compares this list with the app's routes).
_FORGED_POSTS = {
    "/app/sign-out": {},
    "/app/mode": {"mode": "live"},
    "/app/cohorts/new": {"name": "forged"},
    "/app/cohorts/{cohort_id}/edit": {"name": "forged"},
    "/app/import": {"on_error": "abort"},
    "/app/anomalies/run": {},
    "/app/keys": {"role": "admin", "name": "forged"},
    "/app/keys/{key_id}/revoke": {},
}


def test_every_dashboard_form_needs_its_csrf_token(api: ApiHarness) -> None:
    posts = {
        route.path
        for module in (auth_pages, cohort_pages, import_pages, intel_pages, keys_pages)
        for route in module.router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    }
    assert not [r for r in retention_pages.router.routes if "POST" in getattr(r, "methods", ())]
    # The sign-in form's double-submit token is tested above.
    assert posts - {"/app/sign-in"} == set(_FORGED_POSTS)
    _signed_in(api.client, api.keys["test"])
    with api.app.state.sessions() as db:
        spare = keys.issue_key(db, org_id=api.org_id, livemode=False, role=Role.viewer)
        db.commit()
    key_id = spare.key.id
    cohort = api.client.post(
        "/v1/cohorts", json={"name": "kept", "definition": {}}, headers=api.headers("test")
    )
    assert cohort.status_code == 201, cohort.text
    for path, data in _FORGED_POSTS.items():
        url = path.format(cohort_id=cohort.json()["id"], key_id=key_id)
        refused = api.client.post(url, data=data, follow_redirects=False)
        assert refused.status_code == 403, (url, refused.status_code, refused.text[:200])
        assert "CSRF" in refused.text, (url, refused.text[:200])
        wrong = api.client.post(url, data={**data, "csrf_token": "x" * 43}, follow_redirects=False)
        assert wrong.status_code == 403, (url, wrong.status_code)
    # Nothing was written: still signed in, the key not revoked, no cohort renamed.
    spare_headers = api.headers(key=spare.secret)
    assert api.client.get("/v1/cohorts", headers=spare_headers).status_code == 200
    assert api.client.get("/app/keys", follow_redirects=False).status_code == 200
    assert (
        api.client.get(f"/v1/cohorts/{cohort.json()['id']}", headers=api.headers("test")).json()[
            "name"
        ]
        == "kept"
    )
