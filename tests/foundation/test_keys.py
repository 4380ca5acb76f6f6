"""Keys (SPEC §5): shown once, hashed at rest, roles, revoke, rotate with grace, tenancy."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cohortd.db import utcnow
from cohortd.keys import service
from cohortd.keys.models import ApiKey, Role
from cohortd.keys.secrets import KEY_PATTERN, hash_secret
from tests.fixtures.api import ApiHarness, new_org


def test_created_key_is_shown_once_and_stored_only_as_hash(api_any: ApiHarness) -> None:
    created = api_any.client.post(
        "/v1/api_keys", json={"role": "viewer", "name": "ci"}, headers=api_any.headers()
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert KEY_PATTERN.match(secret) and secret.startswith("rk_test_")
    assert len(secret) - len("rk_test_") >= 32
    with api_any.app.state.sessions() as session:
        stored = session.get(ApiKey, created.json()["id"])
        assert stored is not None and stored.secret_hash == hash_secret(secret)
        row_text = " ".join(str(v) for v in vars(stored).values())
        assert secret not in row_text
    fetched = api_any.client.get(f"/v1/api_keys/{created.json()['id']}", headers=api_any.headers())
    assert "secret" not in fetched.json()
    assert fetched.json()["masked_secret"] == f"rk_test_****{secret[-4:]}"


def test_roles_are_enforced(api_any: ApiHarness) -> None:
    viewer = api_any.new_key(Role.viewer)
    developer = api_any.new_key(Role.developer)
    assert (
        api_any.client.get("/v1/api_keys", headers=api_any.headers(key=viewer)).status_code == 403
    )
    assert (
        api_any.client.get("/v1/api_keys", headers=api_any.headers(key=developer)).status_code
        == 403
    )
    denied = api_any.client.post("/v1/api_keys", json={}, headers=api_any.headers(key=viewer))
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"


def test_bad_and_revoked_keys_are_401(api_any: ApiHarness) -> None:
    for bad in ("rk_test_short", "Bearer", "rk_test_" + "x" * 40, "sk_live_" + "a" * 40):
        response = api_any.client.get("/v1/api_keys", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401
    viewer = api_any.new_key(Role.viewer)
    key_id = _key_id(api_any, viewer)
    revoked = api_any.client.delete(f"/v1/api_keys/{key_id}", headers=api_any.headers())
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert api_any.client.get("/healthz", headers=api_any.headers(key=viewer)).status_code == 200
    assert (
        api_any.client.get("/v1/api_keys/x", headers=api_any.headers(key=viewer)).status_code == 401
    )


def test_rotate_without_grace_revokes_the_old_secret(api_any: ApiHarness) -> None:
    admin2 = api_any.new_key(Role.admin)
    rotated = api_any.client.post(
        f"/v1/api_keys/{_key_id(api_any, admin2)}/rotate", headers=api_any.headers()
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert (
        api_any.client.get("/v1/api_keys", headers=api_any.headers(key=admin2)).status_code == 401
    )
    assert (
        api_any.client.get("/v1/api_keys", headers=api_any.headers(key=new_secret)).status_code
        == 200
    )


def test_rotate_with_grace_keeps_the_old_secret_until_it_expires(api_any: ApiHarness) -> None:
    admin2 = api_any.new_key(Role.admin)
    rotated = api_any.client.post(
        f"/v1/api_keys/{_key_id(api_any, admin2)}/rotate",
        json={"grace_period_seconds": 3600},
        headers=api_any.headers(),
    )
    assert rotated.status_code == 200
    assert (
        api_any.client.get("/v1/api_keys", headers=api_any.headers(key=admin2)).status_code == 200
    )
    with api_any.app.state.sessions() as session:
        later = utcnow() + timedelta(seconds=3601)
        assert service.authenticate(session, admin2) is not None
        assert service.authenticate(session, admin2, now=later) is None
        assert service.authenticate(session, rotated.json()["secret"], now=later) is not None


def test_other_org_ids_are_404_and_modes_do_not_mix(api_any: ApiHarness) -> None:
    other = new_org(api_any.app)
    foreign_id = _key_id(api_any, other.keys["test"])
    response = api_any.client.get(f"/v1/api_keys/{foreign_id}", headers=api_any.headers())
    assert response.status_code == 404
    assert (
        api_any.client.delete(f"/v1/api_keys/{foreign_id}", headers=api_any.headers()).status_code
        == 404
    )
    live_id = _key_id(api_any, api_any.keys["live"])
    assert (
        api_any.client.get(f"/v1/api_keys/{live_id}", headers=api_any.headers("test")).status_code
        == 404
    )
    listed = api_any.client.get("/v1/api_keys", headers=api_any.headers("test")).json()["data"]
    assert all(item["livemode"] is False for item in listed)


def test_key_list_pages_with_cursors(api_any: ApiHarness) -> None:
    for _ in range(4):
        api_any.new_key(Role.viewer)
    first = api_any.client.get("/v1/api_keys?limit=2", headers=api_any.headers()).json()
    assert len(first["data"]) == 2 and first["has_more"] is True
    second = api_any.client.get(
        f"/v1/api_keys?limit=2&starting_after={first['next_cursor']}", headers=api_any.headers()
    ).json()
    third = api_any.client.get(
        f"/v1/api_keys?limit=2&starting_after={second['next_cursor']}", headers=api_any.headers()
    ).json()
    ids = [k["id"] for k in first["data"] + second["data"] + third["data"]]
    assert len(ids) == 5 and ids == sorted(ids) and third["has_more"] is False
    back = api_any.client.get(
        f"/v1/api_keys?limit=2&ending_before={ids[4]}", headers=api_any.headers()
    ).json()
    assert [k["id"] for k in back["data"]] == ids[2:4]
    for bad in ("limit=0", "limit=101", "limit=x"):
        assert (
            api_any.client.get(f"/v1/api_keys?{bad}", headers=api_any.headers()).status_code == 422
        )


def _key_id(api: ApiHarness, secret: str) -> str:
    with api.app.state.sessions() as session:
        return session.scalars(
            select(ApiKey.id).where(ApiKey.secret_hash == hash_secret(secret))
        ).one()
