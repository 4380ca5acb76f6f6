"""``POST /v1/subscribers``, ``POST /v1/subscriptions`` and the overrides over HTTP, on
both stacks (SQLite + DuckDB, PostgreSQL for both planes)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cohortd import clock
from cohortd.keys.models import Role
from cohortd.warehouse import Scope
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness, new_org
from tests.subscriptions.helpers import stored_rows

TODAY = clock.today()
D0 = date(2025, 1, 1)


def _stocked(api: ApiHarness) -> ApiHarness:
    """Test mode: ``ann`` pays 50.00 USD on plan ``pro`` from 2025-01-01 on (row
    ``sub_ann``); ``bea`` exists with no rows. Live mode: ``liv`` with row ``sub_liv``."""
    test, live = Scope(api.org_id, False), Scope(api.org_id, True)
    load(
        api.warehouse,
        test,
        [Cust("ann", country="US", currency="USD"), Cust("bea")],
        [Sub("sub_ann", "ann", D0, None, 5000, plan_id="pro")],
    )
    load(api.warehouse, live, [Cust("liv")], [Sub("sub_liv", "liv", D0, None, 100)])
    return api


@pytest.fixture
def shop(api_any: ApiHarness) -> ApiHarness:
    """A fresh ``_stocked`` organization, for tests that write."""
    return _stocked(api_any)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def unchanged_shop(request: pytest.FixtureRequest) -> ApiHarness:
    """One ``_stocked`` organization per stack for the tests that must change nothing."""
    app, client = request.getfixturevalue(f"{request.param}_app")
    harness = new_org(app)
    harness.client = client
    return _stocked(harness)


def post(api: ApiHarness, path: str, body: object = None, **headers: str):  # type: ignore[no-untyped-def]
    return api.client.post(path, json=body, headers=api.headers(**headers))


def rows_of(answer: dict) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (r["plan_id"], r["mrr"], r["start_date"], r["end_date"], r["status"])
        for r in answer["data"]
    ]


# -- create a subscriber -----------------------------------------------------------------


def test_create_subscriber_then_409_on_the_same_id(shop: ApiHarness) -> None:
    body = {"id": "cid", "email": " Cid@Example.com ", "country": "de", "tags": ["a", " b "]}
    created = post(shop, "/v1/subscribers", body)
    assert created.status_code == 201, created.text
    got = created.json()
    assert (got["id"], got["country"], got["tags"], got["livemode"]) == (
        "cid",
        "DE",
        ["a", "b"],
        False,
    )
    # sha256 of "cid@example.com" (trimmed, lower-cased), as the import stores it
    import hashlib

    assert got["email_hashed"] == "sha256:" + hashlib.sha256(b"cid@example.com").hexdigest()
    assert shop.client.get("/v1/subscribers/cid", headers=shop.headers()).status_code == 200
    again = post(shop, "/v1/subscribers", {"id": "cid"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


def test_create_subscriber_checks_fields_as_the_import_does(unchanged_shop: ApiHarness) -> None:
    shop = unchanged_shop
    before = stored_rows(shop.warehouse, Scope(shop.org_id, False))
    answer = post(shop, "/v1/subscribers", {"id": "x", "country": "ZZ", "health_score": 101})
    assert answer.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in answer.json()["errors"]}
    assert errors == {
        ("body", "country"): "not an ISO 3166-1 alpha-2 country code",
        ("body", "health_score"): "must be between 0 and 100",
    }
    assert stored_rows(shop.warehouse, Scope(shop.org_id, False)) == before


def test_viewer_may_not_write_and_nothing_changes(shop: ApiHarness) -> None:
    viewer = shop.new_key(Role.viewer)
    before = stored_rows(shop.warehouse, Scope(shop.org_id, False))
    for path, body in [
        ("/v1/subscribers", {"id": "v"}),
        (
            "/v1/subscriptions",
            {
                "id": "s",
                "customer_id": "ann",
                "currency": "USD",
                "mrr": 1,
                "start_date": "2025-01-01",
            },
        ),
        ("/v1/subscriptions/sub_ann/cancel", {}),
    ]:
        answer = shop.client.post(path, json=body, headers=shop.headers(key=viewer))
        assert answer.status_code == 403, path
    developer = shop.new_key(Role.developer)
    answer = shop.client.post(
        "/v1/subscriptions/sub_ann/cancel",
        json={"effective_date": "2025-03-01"},
        headers=shop.headers(key=developer),
    )
    assert answer.status_code == 200
    assert stored_rows(shop.warehouse, Scope(shop.org_id, False)) != before


# -- upsert one row ----------------------------------------------------------------------


def test_upsert_inserts_then_replaces_on_id(shop: ApiHarness) -> None:
    row = {
        "id": "sub_b1",
        "customer_id": "bea",
        "currency": "eur",
        "mrr": "12.5",
        "start_date": "2025-02-01",
    }
    first = post(shop, "/v1/subscriptions", row)
    assert first.status_code == 200, first.text
    assert first.json()["object"] == "list" and first.json()["customer_id"] == "bea"
    # 12.5 EUR = 1250 cents, answered as the exact decimal "12.50"
    assert rows_of(first.json()) == [(None, "12.50", "2025-02-01", None, None)]
    second = post(shop, "/v1/subscriptions", {**row, "mrr": 20, "end_date": "2025-06-01"})
    assert rows_of(second.json()) == [(None, "20.00", "2025-02-01", "2025-06-01", None)]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"mrr": "-5"}, "mrr", "negative MRR"),
        ({"mrr": "ten"}, "mrr", "not a decimal number"),
        ({"mrr": "1.234"}, "mrr", "more decimals than the currency allows (2)"),
        ({"currency": "ABC"}, "currency", "not an ISO 4217 currency code"),
        ({"customer_id": "nobody"}, "customer_id", "unknown customer (not stored in this mode)"),
        ({"start_date": "2025-02-30"}, "start_date", "impossible date"),
        ({"end_date": "2024-01-01"}, "end_date", "end_date must be after start_date"),
        ({"customer_id": "liv"}, "customer_id", "unknown customer (not stored in this mode)"),
    ],
)
def test_bad_rows_are_422_naming_the_field(
    unchanged_shop: ApiHarness,
    change: dict,  # type: ignore[type-arg]
    field: str,
    reason: str,
) -> None:
    shop = unchanged_shop
    scope = Scope(shop.org_id, False)
    before = stored_rows(shop.warehouse, scope)
    report = shop.client.get("/v1/reports/cohort?interval=month", headers=shop.headers()).json()
    row = {
        "id": "sub_n",
        "customer_id": "ann",
        "currency": "USD",
        "mrr": "1",
        "start_date": "2025-02-01",
    }
    answer = post(shop, "/v1/subscriptions", {**row, **change})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"loc": ["body", field], "msg": reason}]
    assert stored_rows(shop.warehouse, scope) == before
    again = shop.client.get("/v1/reports/cohort?interval=month", headers=shop.headers()).json()
    assert again == report


# -- overrides -----------------------------------------------------------------------------


def test_change_plan_ends_the_row_and_starts_the_new_plan(shop: ApiHarness) -> None:
    body = {"effective_date": "2025-03-10", "plan_id": "max", "mrr": "80"}
    answer = post(shop, "/v1/subscriptions/sub_ann/change_plan", body)
    assert answer.status_code == 200, answer.text
    # [01-01, 03-10) at 50.00 on pro, then [03-10, open) at 80.00 on max
    assert rows_of(answer.json()) == [
        ("pro", "50.00", "2025-01-01", "2025-03-10", "active"),
        ("max", "80.00", "2025-03-10", None, "active"),
    ]
    new = answer.json()["data"][1]["id"]
    assert new.startswith("sub_") and len(new) == 4 + 26  # sub_ + ULID


def test_cancel_defaults_to_today(shop: ApiHarness) -> None:
    answer = post(shop, "/v1/subscriptions/sub_ann/cancel")
    assert answer.status_code == 200, answer.text
    assert rows_of(answer.json()) == [("pro", "50.00", "2025-01-01", TODAY.isoformat(), "active")]
    subscriber = shop.client.get("/v1/subscribers/ann", headers=shop.headers()).json()
    assert (subscriber["status"], subscriber["mrr"]) == ("cancelled", "0.00")


def test_pause_with_a_resume_date_then_without(shop: ApiHarness) -> None:
    body = {"effective_date": "2025-04-01", "resume_date": "2025-05-15"}
    answer = post(shop, "/v1/subscriptions/sub_ann/pause", body)
    assert answer.status_code == 200, answer.text
    # pro until 04-01; paused (0) until 05-15; pro again from 05-15 to the old end (open)
    assert rows_of(answer.json()) == [
        ("pro", "50.00", "2025-01-01", "2025-04-01", "active"),
        ("pro", "0.00", "2025-04-01", "2025-05-15", "paused"),
        ("pro", "50.00", "2025-05-15", None, "active"),
    ]


def test_pause_then_resume(shop: ApiHarness) -> None:
    paused = post(shop, "/v1/subscriptions/sub_ann/pause", {"effective_date": "2025-04-01"})
    pause_id = paused.json()["data"][1]["id"]
    assert rows_of(paused.json())[1] == ("pro", "0.00", "2025-04-01", None, "paused")
    resumed = post(shop, f"/v1/subscriptions/{pause_id}/resume", {"effective_date": "2025-06-01"})
    assert resumed.status_code == 200, resumed.text
    # the paused stretch ends on 06-01, and the plan and MRR of the row that ended on
    # 04-01 (where the pause began: pro, 50.00) run from 06-01 on
    assert rows_of(resumed.json()) == [
        ("pro", "50.00", "2025-01-01", "2025-04-01", "active"),
        ("pro", "0.00", "2025-04-01", "2025-06-01", "paused"),
        ("pro", "50.00", "2025-06-01", None, "active"),
    ]


def test_an_override_on_the_rows_first_day_replaces_the_row(shop: ApiHarness) -> None:
    body = {"effective_date": "2025-01-01", "plan_id": "max", "mrr": "80"}
    answer = post(shop, "/v1/subscriptions/sub_ann/change_plan", body)
    # the old row would have no day left: it is removed, the new one takes its place
    assert rows_of(answer.json()) == [("max", "80.00", "2025-01-01", None, "active")]


@pytest.mark.parametrize(
    ("path", "body", "loc", "reason"),
    [
        (
            "cancel",
            {"effective_date": "2024-12-31"},
            ["body", "effective_date"],
            "is before the customer's first subscription row (2025-01-01)",
        ),
        (
            "cancel",
            {"effective_date": "4672-01-01"},
            ["body", "effective_date"],
            "more than 100 years from today",
        ),
        ("cancel", {"effective_date": "2025-13-01"}, ["body", "effective_date"], "impossible date"),
        (
            "cancel",
            {"effective_date": "03/01/2025"},
            ["body", "effective_date"],
            "not a date (YYYY-MM-DD)",
        ),
        ("resume", {"effective_date": "2025-03-01"}, ["path", "id"], "row 'sub_ann' is not paused"),
        (
            "change_plan",
            {"effective_date": "2025-03-01", "plan_id": "x", "mrr": "-1"},
            ["body", "mrr"],
            "negative MRR",
        ),
        (
            "change_plan",
            {"effective_date": "2025-03-01", "plan_id": "x", "mrr": "abc"},
            ["body", "mrr"],
            "not a decimal number",
        ),
        (
            "change_plan",
            {"effective_date": "2025-03-01", "plan_id": "x", "mrr": "1", "currency": "QQQ"},
            ["body", "currency"],
            "not an ISO 4217 currency code",
        ),
        (
            "pause",
            {"effective_date": "2025-03-01", "resume_date": "2025-02-01"},
            ["body", "resume_date"],
            "must be after effective_date",
        ),
    ],
)
def test_impossible_overrides_are_422_and_change_nothing(
    unchanged_shop: ApiHarness,
    path: str,
    body: dict,  # type: ignore[type-arg]
    loc: list,  # type: ignore[type-arg]
    reason: str,
) -> None:
    shop = unchanged_shop
    scope = Scope(shop.org_id, False)
    before = stored_rows(shop.warehouse, scope)
    report = shop.client.get("/v1/reports/cohort?interval=month", headers=shop.headers()).json()
    answer = post(shop, f"/v1/subscriptions/sub_ann/{path}", body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"loc": loc, "msg": reason}]
    assert stored_rows(shop.warehouse, scope) == before
    assert (
        shop.client.get("/v1/reports/cohort?interval=month", headers=shop.headers()).json()
        == report
    )


def test_a_row_that_does_not_cover_the_day(shop: ApiHarness) -> None:
    post(shop, "/v1/subscriptions/sub_ann/cancel", {"effective_date": "2025-03-01"})
    answer = post(shop, "/v1/subscriptions/sub_ann/cancel", {"effective_date": "2025-04-01"})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "loc": ["body", "effective_date"],
            "msg": "row 'sub_ann' does not cover 2025-04-01"
            " (it runs from 2025-01-01 until 2025-03-01)",
        }
    ]


def test_other_modes_rows_are_not_found(shop: ApiHarness) -> None:
    assert post(shop, "/v1/subscriptions/sub_liv/cancel").status_code == 404
    assert post(shop, "/v1/subscriptions/sub_ann/cancel", mode="live").status_code == 404
    assert post(shop, "/v1/subscriptions/sub_liv/cancel", mode="live").status_code == 200


def test_idempotency_key_replays_and_writes_once(shop: ApiHarness) -> None:
    body = {"effective_date": "2025-03-10", "plan_id": "max", "mrr": "80"}
    key = {"Idempotency-Key": "plan-change-1"}
    first = shop.client.post(
        "/v1/subscriptions/sub_ann/change_plan", json=body, headers=shop.headers(**key)
    )
    second = shop.client.post(
        "/v1/subscriptions/sub_ann/change_plan", json=body, headers=shop.headers(**key)
    )
    assert first.status_code == second.status_code == 200
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.content == first.content
    stored = shop.client.get("/v1/subscriptions/sub_ann", headers=shop.headers()).json()
    assert stored["end_date"] == "2025-03-10"
    rows = post(shop, "/v1/subscriptions/sub_ann/cancel", {"effective_date": "2025-02-01"}).json()
    assert len(rows["data"]) == 2  # one plan change happened, not two
    other = shop.client.post(
        "/v1/subscriptions/sub_ann/change_plan",
        json={**body, "mrr": "90"},
        headers=shop.headers(**key),
    )
    assert other.status_code == 422  # the same key with another body


def test_the_next_report_and_cohort_count_see_the_change(shop: ApiHarness) -> None:
    """A plan change today on a paying customer shows in the report, the cohort count
    and the subscriber at once; a cancel right after, too."""
    cohort = shop.client.post(
        "/v1/cohorts",
        json={"name": "payers", "definition": {"status": ["active"]}},
        headers=shop.headers(),
    )
    assert cohort.status_code == 201, cohort.text
    cohort_id = cohort.json()["id"]

    def state() -> tuple[object, ...]:
        report = shop.client.get("/v1/reports/cohort?interval=month", headers=shop.headers()).json()
        jan = next(r for r in report["result"]["list"] if r["cohort_group"] == "2025-01-31")
        count = shop.client.get(f"/v1/cohorts/{cohort_id}", headers=shop.headers()).json()[
            "member_count"
        ]
        mrr = shop.client.get("/v1/subscribers/ann", headers=shop.headers()).json()["mrr"]
        return jan["periods"][-1]["mrr_retained"], count, mrr

    assert state()[1:] == (1, "50.00")
    changed = post(shop, "/v1/subscriptions/sub_ann/change_plan", {"plan_id": "max", "mrr": "80"})
    last_mrr, count, mrr = state()
    assert (count, mrr) == (1, "80.00")
    assert last_mrr == pytest.approx(80.0)
    new = shop.client.get("/v1/subscribers/ann", headers=shop.headers()).json()
    assert new["plan_id"] == "max"
    # cancelling the new row today: it started today, so it has no day left and goes;
    # sub_ann ended today too: nothing pays today
    new_row = changed.json()["data"][1]["id"]
    cancelled = post(shop, f"/v1/subscriptions/{new_row}/cancel")
    assert rows_of(cancelled.json()) == [
        ("pro", "50.00", "2025-01-01", TODAY.isoformat(), "active")
    ]
    last_mrr, count, mrr = state()
    assert (count, mrr) == (0, "0.00")
    assert last_mrr == pytest.approx(0.0)


def test_a_change_today_on_a_paying_customer_makes_exactly_one_event(shop: ApiHarness) -> None:
    """ann pays 50.00 from 2025-01-01 on. A plan change to 80.00 today: one new change
    point (today, 5000 -> 8000 minor units) = one ``subscription.upgraded``. Cancelling
    the new row today leaves sub_ann ending today: the point becomes (today, 5000 -> 0),
    new again = one ``subscription.cancelled``."""

    def events() -> list[dict]:  # type: ignore[type-arg]
        answer = shop.client.get(
            "/v1/events?type=subscription.*&subscriber_id=ann", headers=shop.headers()
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]  # type: ignore[no-any-return]

    assert events() == []
    changed = post(shop, "/v1/subscriptions/sub_ann/change_plan", {"plan_id": "max", "mrr": "80"})
    found = events()
    assert [e["type"] for e in found] == ["subscription.upgraded"]
    data = found[0]["data"]
    assert (data["effective_date"], data["previous_mrr"], data["mrr"], data["plan_id"]) == (
        TODAY.isoformat(),
        5000,
        8000,
        "max",
    )
    post(shop, f"/v1/subscriptions/{changed.json()['data'][1]['id']}/cancel")
    found = events()
    assert [e["type"] for e in found] == ["subscription.cancelled", "subscription.upgraded"]
    assert found[0]["data"]["previous_mrr"] == 5000
    # a rejected write records nothing
    post(shop, "/v1/subscriptions/sub_ann/cancel", {"effective_date": "2020-01-01"})
    assert len(events()) == 2


def test_a_row_in_another_currency_makes_its_event(shop: ApiHarness) -> None:
    """ann pays 50.00 USD from 2025-01-01 on; a 10.00 EUR row from ten days ago adds its
    USD value at that day's rate: one ``subscription.upgraded`` (its amounts need rates on
    the change day, the day before it and today, the event's current state)."""
    start = TODAY - timedelta(days=10)
    answer = post(
        shop,
        "/v1/subscriptions",
        {
            "id": "sub_ann_eur",
            "customer_id": "ann",
            "currency": "EUR",
            "mrr": "10.00",
            "start_date": start.isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    found = shop.client.get(
        "/v1/events?type=subscription.*&subscriber_id=ann", headers=shop.headers()
    ).json()["data"]
    assert [e["type"] for e in found] == ["subscription.upgraded"]
    data = found[0]["data"]
    assert (data["effective_date"], data["previous_mrr"], data["currency"]) == (
        start.isoformat(),
        5000,
        "USD",
    )
    assert data["mrr"] > 5000  # 10.00 EUR is worth more than nothing in USD
    assert found[0]["subscription"]["mrr"] > 5000  # today's state, at today's rate
