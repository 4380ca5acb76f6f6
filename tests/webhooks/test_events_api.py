"""GET /v1/events (filters, paging newest first, modes), cohort events in the write's
transaction, bad input naming the field with nothing stored, and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fixtures.api import ApiHarness
from tests.webhooks.helpers import (
    CUSTOMERS,
    SUBSCRIPTIONS,
    create_destination,
    days_ago,
    import_files,
)
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import cohort, deliveries, settled


def events(api: ApiHarness, mode: str = "test", **params: object) -> dict:
    answer = api.client.get("/v1/events", headers=api.headers(mode), params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_event_log_filters_and_pages_newest_first(hooks_any: ApiHarness) -> None:
    api = hooks_any
    import_files(api, {"customers": CUSTOMERS, "subscriptions": SUBSCRIPTIONS})
    made = cohort(api)
    api.client.patch(f"/v1/cohorts/{made['id']}", headers=api.headers(), json={"name": "VIP 2"})
    api.client.delete(f"/v1/cohorts/{made['id']}", headers=api.headers())
    everything = events(api)["data"]
    types = [e["type"] for e in everything]
    # newest first: the cohort's delete, update, create, then the import's events
    assert types[:3] == ["cohort.deleted", "cohort.updated", "cohort.created"]
    assert sorted(types[3:]) == [
        "import.completed",
        "subscription.activated",
        "subscription.activated",
        "subscription.cancelled",
        "subscription.upgraded",
    ]
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    one = everything[0]
    assert set(one) == {
        "id",
        "object",
        "type",
        "schema_version",
        "created_at",
        "livemode",
        "tenant",
        "subscriber",
        "subscription",
        "data",
    }
    assert one["object"] == "event" and one["schema_version"] == "v1"
    assert one["created_at"].endswith("Z") and len(one["created_at"]) == 24
    assert one["tenant"] == {"id": api.org_id, "name": "Test Org"}
    # wildcard and repeatable type filters
    subs = events(api, type="subscription.*")["data"]
    assert len(subs) == 4 and all(e["type"].startswith("subscription.") for e in subs)
    two = events(api, type=["cohort.created", "cohort.deleted"])["data"]
    assert [e["type"] for e in two] == ["cohort.deleted", "cohort.created"]
    c3 = events(api, subscriber_id="c3")["data"]
    assert sorted(e["type"] for e in c3) == ["subscription.activated", "subscription.cancelled"]
    cancelled = next(e for e in c3 if e["type"] == "subscription.cancelled")
    # c3: EUR 5.00 from 20 days ago to 3 days ago; cancelled 3 days ago, status that day
    assert cancelled["data"]["previous_mrr"] == 500 and cancelled["data"]["currency"] == "EUR"
    assert cancelled["data"]["status"] == "cancelled"
    assert cancelled["subscription"] == {
        "status": "cancelled",
        "plan_id": None,
        "mrr": 0,
        "currency": "EUR",
    }
    assert cancelled["subscriber"]["email"] is None and cancelled["subscriber"]["id"] == "c3"
    # time filters
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert events(api, created_gte=future)["data"] == []
    assert len(events(api, created_lt=future)["data"]) == len(everything)
    # paging: two at a time, newest first, no gaps
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"starting_after": cursor} if cursor else {})
        page = events(api, **params)
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [e["id"] for e in everything]
    # one event; another mode does not see it
    got = api.client.get(f"/v1/events/{one['id']}", headers=api.headers())
    assert got.status_code == 200 and got.json() == one
    assert api.client.get(f"/v1/events/{one['id']}", headers=api.headers("live")).status_code == 404
    assert events(api, "live")["data"] == []


def test_reimporting_the_same_files_makes_no_new_subscription_events(hooks: ApiHarness) -> None:
    files = {"customers": CUSTOMERS, "subscriptions": SUBSCRIPTIONS}
    import_files(hooks, files)
    import_files(hooks, files)
    assert len(events(hooks, type="subscription.*")["data"]) == 4
    assert len(events(hooks, type="import.*")["data"]) == 2


def test_bad_input_names_the_field_and_stores_nothing(hooks: ApiHarness) -> None:
    cases = [
        ({"url": "not a url"}, "url"),
        ({"url": "http://169.254.169.254/"}, "url"),
        ({"url": "http://127.0.0.1:9/", "event_types": ["subscription.renamed"]}, "event_types"),
        ({"url": "http://127.0.0.1:9/", "event_types": ["nothing.*"]}, "event_types"),
        ({"url": "http://127.0.0.1:9/", "pii_mode": "some"}, "pii_mode"),
    ]
    for body, field in cases:
        answer = hooks.client.post("/v1/destinations", headers=hooks.headers(), json=body)
        assert answer.status_code == 422, (body, answer.text)
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert any(field in err["loc"] for err in problem["errors"]), problem
    # live mode: https only
    answer = hooks.client.post(
        "/v1/destinations", headers=hooks.headers("live"), json={"url": "http://example.com/"}
    )
    assert answer.status_code == 422 and "https" in answer.text
    assert hooks.client.get("/v1/destinations", headers=hooks.headers()).json()["data"] == []
    bad_type = hooks.client.get("/v1/events", headers=hooks.headers(), params={"type": "x.y"})
    assert bad_type.status_code == 422 and "type" in bad_type.json()["errors"][0]["loc"]


def test_replay_resends_the_same_events_and_bodies(hooks: ApiHarness, receiver: Receiver) -> None:
    dest = create_destination(hooks, receiver.url, event_types=["cohort.*"])
    start = datetime.now(UTC) - timedelta(minutes=1)
    cohort(hooks, "A")
    cohort(hooks, "B")
    first = receiver.wait_for(2)
    settled(hooks, dest["id"])
    window = {
        "destination_id": dest["id"],
        "from": start.isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }
    # skip_existing: both were delivered, nothing to replay
    skipped = hooks.client.post("/v1/replay", headers=hooks.headers(), json=window)
    assert skipped.status_code == 202, skipped.text
    assert skipped.json()["event_count"] == 0 and skipped.json()["status"] == "completed"
    forced = hooks.client.post(
        "/v1/replay", headers=hooks.headers(), json=window | {"dedupe_strategy": "force_redeliver"}
    )
    assert forced.status_code == 202
    replay = forced.json()
    assert replay["id"].startswith("replay_") and replay["object"] == "replay"
    assert replay["event_count"] == 2
    again = receiver.wait_for(4)
    assert sorted(r.body for r in again[2:]) == sorted(r.body for r in first)
    settled(hooks, dest["id"])
    shown = hooks.client.get(f"/v1/replay/{replay['id']}", headers=hooks.headers()).json()
    assert shown["status"] == "completed" and shown["delivered_count"] == 2
    assert len(deliveries(hooks, dest["id"])) == 4


def test_replay_window_errors(hooks: ApiHarness) -> None:
    dest = create_destination(hooks, "http://127.0.0.1:9/x")
    now = datetime.now(UTC)
    reversed_window = {
        "destination_id": dest["id"],
        "from": now.isoformat(),
        "to": (now - timedelta(hours=1)).isoformat(),
    }
    answer = hooks.client.post("/v1/replay", headers=hooks.headers(), json=reversed_window)
    assert answer.status_code == 422 and answer.json()["errors"][0]["loc"] == ["body", "to"]
    too_old = {
        "destination_id": dest["id"],
        "from": (now - timedelta(days=91)).isoformat(),
        "to": now.isoformat(),
    }
    answer = hooks.client.post("/v1/replay", headers=hooks.headers(), json=too_old)
    assert answer.status_code == 422 and answer.json()["errors"][0]["loc"] == ["body", "from"]
    unknown = {
        "destination_id": "dest_nope",
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": now.isoformat(),
    }
    answer = hooks.client.post("/v1/replay", headers=hooks.headers(), json=unknown)
    assert answer.status_code == 422 and "destination_id" in answer.json()["errors"][0]["loc"]
    assert deliveries(hooks, dest["id"]) == []


def test_a_replay_counts_each_delivery_at_its_latest_attempt(
    hooks: ApiHarness, receiver: Receiver
) -> None:
    """A replayed delivery that failed once and then succeeded is delivered, not failed:
    the failed attempt's row is followed by its retry's."""
    dest = create_destination(hooks, receiver.url, event_types=["cohort.*"])
    start = datetime.now(UTC) - timedelta(minutes=1)
    cohort(hooks, "Once")
    receiver.wait_for(1)
    settled(hooks, dest["id"])
    receiver.behave = "fail"
    replay = hooks.client.post(
        "/v1/replay",
        headers=hooks.headers(),
        json={
            "destination_id": dest["id"],
            "from": start.isoformat(),
            "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
            "dedupe_strategy": "force_redeliver",
        },
    ).json()
    receiver.wait_for(2)  # the replay's first attempt, failed
    receiver.behave = "ok"
    receiver.wait_for(3)  # its retry
    rows = settled(hooks, dest["id"])
    replayed = [r for r in rows if r["attempt"] > 1 or r["status"] == "failed"]
    assert [(r["attempt"], r["status"]) for r in replayed][-2:] == [(2, "succeeded"), (1, "failed")]
    shown = hooks.client.get(f"/v1/replay/{replay['id']}", headers=hooks.headers()).json()
    assert (shown["delivered_count"], shown["failed_count"], shown["pending_count"]) == (1, 0, 0)
    assert shown["status"] == "completed"


def test_an_import_converts_a_customer_billed_in_two_currencies(hooks: ApiHarness) -> None:
    """c9 is billed in USD: 10.00 EUR from 60 days ago, then 20.00 USD from 5 days ago. The
    change 5 days ago compares the EUR row (the day before, at the change day's rate)
    with 20.00: one ``subscription.upgraded`` (the activation is older than the backfill)."""
    customers = f"id,name,email,created_at,currency\nc9,Nine,,{days_ago(90)},USD\n"
    subscriptions = (
        "id,customer_id,plan_id,currency,mrr,start_date,end_date,status\n"
        f"s90,c9,basic,EUR,10.00,{days_ago(60)},{days_ago(5)},active\n"
        f"s91,c9,pro,USD,20.00,{days_ago(5)},,active\n"
    )
    import_files(hooks, {"customers": customers, "subscriptions": subscriptions})
    found = events(hooks, type="subscription.*")["data"]
    assert [(e["subscriber"]["id"], e["type"]) for e in found] == [("c9", "subscription.upgraded")]
    data = found[0]["data"]
    assert data["effective_date"] == days_ago(5) and data["mrr"] == 2000
    assert 0 < data["previous_mrr"] < 2000  # 10.00 EUR in USD cents
