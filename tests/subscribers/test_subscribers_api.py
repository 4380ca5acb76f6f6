"""``/v1/subscribers`` and ``/v1/subscriptions`` over real HTTP, on both stacks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness

from cohortd import clock
from cohortd.warehouse import Scope
from cohortd.warehouse.tables import FX_RATES, SCHEMAS

TODAY = clock.today()
AGO_10 = TODAY - timedelta(days=10)
HASH = "sha256:" + "ab" * 32


@pytest.fixture
def shop(api_any: ApiHarness) -> ApiHarness:
    """Test-mode customers (today T):

    - alice: USD, pays 10.00 USD + 8.00 GBP since T-10 (plan pro, then basic), tags vip;
    - bob: DE, JPY, pays 1000 JPY since T-10; given status cancelled and plan legacy;
    - carol: no currency, no subscriptions;
    - dave: US, USD, trialing since T-10.
    One live-mode customer "eve" must never show in test mode.
    """
    scope = Scope(api_any.org_id, livemode=False)
    load(
        api_any.warehouse,
        scope,
        [
            Cust(
                "alice",
                datetime(2024, 1, 1),
                country="US",
                currency="USD",
                tags=("vip", "beta"),
                email="alice@example.com",
                email_hashed=HASH,
                name="Alice",
                metadata=json.dumps({"crm": "A1"}),
                engagement_score=0.5,
            ),
            Cust(
                "bob",
                datetime(2024, 2, 1),
                country="DE",
                currency="JPY",
                status="cancelled",
                plan_id="legacy",
                tags=("VIP",),
            ),
            Cust("carol", datetime(2024, 3, 1)),
            Cust("dave", datetime(2024, 4, 1), country="us", currency="USD"),
        ],
        [
            Sub("sub_a1", "alice", AGO_10, None, 1000, plan_id="pro"),
            Sub("sub_a2", "alice", AGO_10, None, 800, plan_id="basic", currency="GBP"),
            Sub("sub_b1", "bob", AGO_10, None, 1000, plan_id="yen", currency="JPY"),
            Sub("sub_d1", "dave", AGO_10, None, 0, status="trialing"),
        ],
    )
    # The organization's own rates today (units per EUR) win over the ECB history:
    # 8.00 GBP = 8.00 / 0.8 EUR = 10 EUR = 10 × 1.25 USD = 12.50 USD.
    rates = pa.Table.from_pylist(
        [
            {
                "org_id": api_any.org_id,
                "livemode": False,
                "date": TODAY,
                "currency": code,
                "rate": rate,
            }
            for code, rate in (("USD", Decimal("1.25")), ("GBP", Decimal("0.8")))
        ],
        schema=SCHEMAS[FX_RATES].to_pyarrow(),
    )
    api_any.warehouse.insert_arrow(FX_RATES, rates)
    load(
        api_any.warehouse, Scope(api_any.org_id, livemode=True), [Cust("eve", datetime(2024, 1, 1))]
    )
    return api_any


def _ids(shop: ApiHarness, **params: str) -> list[str]:
    response = shop.client.get("/v1/subscribers", params=params, headers=shop.headers())
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["data"]]


def test_subscriber_object(shop: ApiHarness) -> None:
    alice = shop.client.get("/v1/subscribers/alice", headers=shop.headers()).json()
    assert alice["object"] == "subscriber" and alice["livemode"] is False
    # 10.00 USD + 12.50 USD (the GBP row at today's rate) = 22.50 USD.
    assert (alice["mrr"], alice["currency"]) == ("22.50", "USD")
    # Derived today: MRR > 0 → active; plan of the highest row by face value: 10.00 > 8.00 → pro.
    assert (alice["status"], alice["plan_id"]) == ("active", "pro")
    assert alice["paid_started_at"] == AGO_10.isoformat() and alice["tenure_days"] == 10
    assert alice["email"] == "alice@example.com" and alice["email_hashed"] == HASH
    assert alice["metadata"] == {"crm": "A1"} and alice["tags"] == ["vip", "beta"]
    assert alice["created_at"].startswith("2024-01-01T00:00:00")
    bob = shop.client.get("/v1/subscribers/bob", headers=shop.headers()).json()
    # JPY has no minor unit; the given status and plan describe today.
    assert (bob["mrr"], bob["currency"], bob["status"], bob["plan_id"]) == (
        "1000",
        "JPY",
        "cancelled",
        "legacy",
    )
    carol = shop.client.get("/v1/subscribers/carol", headers=shop.headers()).json()
    assert (carol["mrr"], carol["currency"], carol["status"], carol["tags"]) == (
        None,
        None,
        None,
        [],
    )
    dave = shop.client.get("/v1/subscribers/dave", headers=shop.headers()).json()
    assert (dave["mrr"], dave["status"], dave["paid_started_at"]) == ("0.00", "trialing", None)


def test_list_and_filters(shop: ApiHarness) -> None:
    assert _ids(shop) == ["alice", "bob", "carol", "dave"]
    assert _ids(shop, status="active") == ["alice"]
    assert _ids(shop, status="cancelled") == ["bob"]
    assert _ids(shop, status="Cancelled") == ["bob"]
    assert _ids(shop, plan_id="PRO") == ["alice"]
    assert _ids(shop, tag="vip") == ["alice", "bob"]
    assert _ids(shop, country="US") == ["alice", "dave"]
    assert _ids(shop, country="US", status="trialing") == ["dave"]
    bad = shop.client.get("/v1/subscribers", params={"status": "zombie"}, headers=shop.headers())
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == ["query", "status"]


def test_paging(shop: ApiHarness) -> None:
    first = shop.client.get("/v1/subscribers", params={"limit": 3}, headers=shop.headers()).json()
    assert [s["id"] for s in first["data"]] == ["alice", "bob", "carol"]
    assert first["has_more"] is True and first["next_cursor"] == "carol"
    rest = shop.client.get(
        "/v1/subscribers", params={"starting_after": "carol"}, headers=shop.headers()
    ).json()
    assert [s["id"] for s in rest["data"]] == ["dave"] and rest["has_more"] is False
    back = shop.client.get(
        "/v1/subscribers", params={"ending_before": "dave", "limit": 2}, headers=shop.headers()
    ).json()
    assert [s["id"] for s in back["data"]] == ["bob", "carol"]


def test_other_mode_and_org_are_404(shop: ApiHarness, sqlite_app: object) -> None:
    live = shop.headers("live")
    assert shop.client.get("/v1/subscribers/alice", headers=live).status_code == 404
    assert (
        shop.client.patch("/v1/subscribers/alice", json={"tags": []}, headers=live).status_code
        == 404
    )
    assert shop.client.get("/v1/subscriptions/sub_a1", headers=live).status_code == 404
    assert [s["id"] for s in shop.client.get("/v1/subscribers", headers=live).json()["data"]] == [
        "eve"
    ]
    assert shop.client.get("/v1/subscribers/eve", headers=shop.headers()).status_code == 404


def test_patch_tags_and_metadata(shop: ApiHarness) -> None:
    path = "/v1/subscribers/alice"
    updated = shop.client.patch(
        path,
        json={"tags": ["gold", "it's"], "metadata": {"crm": "B2", "n": 1}},
        headers=shop.headers(),
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["tags"] == ["gold", "it's"] and body["metadata"] == {"crm": "B2", "n": 1}
    # Only tags given: metadata stays; then metadata null clears it; [] clears the tags.
    body = shop.client.patch(path, json={"tags": []}, headers=shop.headers()).json()
    assert body["tags"] == [] and body["metadata"] == {"crm": "B2", "n": 1}
    body = shop.client.patch(path, json={"metadata": None}, headers=shop.headers()).json()
    assert body["metadata"] is None and body["mrr"] == "22.50"
    # The change is in the data plane: the tag filter sees it.
    shop.client.patch(path, json={"tags": ["vip"]}, headers=shop.headers())
    assert _ids(shop, tag="vip") == ["alice", "bob"]


def test_patch_rejects_other_fields(shop: ApiHarness) -> None:
    for body, loc in (
        ({"email": "x@example.com"}, ["body", "email"]),
        ({"tags": None}, ["body", "tags"]),
        ({"tags": [""]}, ["body", "tags", 0]),
        ({"metadata": [1]}, ["body", "metadata"]),
    ):
        response = shop.client.patch("/v1/subscribers/alice", json=body, headers=shop.headers())
        assert response.status_code == 422, body
        assert loc in [e["loc"] for e in response.json()["errors"]]
        assert "x@example.com" not in response.text


def test_subscription_object(shop: ApiHarness) -> None:
    sub = shop.client.get("/v1/subscriptions/sub_a2", headers=shop.headers()).json()
    assert sub == {
        "id": "sub_a2",
        "object": "subscription",
        "livemode": False,
        "customer_id": "alice",
        "plan_id": "basic",
        "currency": "GBP",
        "mrr": "8.00",
        "start_date": AGO_10.isoformat(),
        "end_date": None,
        "status": "active",
    }
    assert shop.client.get("/v1/subscriptions/nope", headers=shop.headers()).status_code == 404


def test_a_pinned_today_moves_the_derived_day(
    shop: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # COHORTD_TODAY five days on: alice has paid since T-10, so 15 days of tenure.
    monkeypatch.setenv(clock.ENV, (TODAY + timedelta(days=5)).isoformat())
    alice = shop.client.get("/v1/subscribers/alice", headers=shop.headers()).json()
    assert (alice["paid_started_at"], alice["tenure_days"]) == (AGO_10.isoformat(), 15)
