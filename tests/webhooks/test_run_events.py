"""Snapshot runs record snapshot_run.completed and cohort.members_changed (entered and
exited against the previous recording) in the run's own transaction."""

from __future__ import annotations

from tests.fixtures.api import ApiHarness
from tests.webhooks.helpers import CUSTOMERS, SUBSCRIPTIONS, days_ago, import_files


def test_runs_record_their_events(hooks: ApiHarness) -> None:
    import_files(hooks, {"customers": CUSTOMERS, "subscriptions": SUBSCRIPTIONS})
    made = hooks.client.post(
        "/v1/cohorts",
        headers=hooks.headers(),
        json={"name": "Paying", "definition": {"status": ["active"]}},
    ).json()
    first = hooks.client.post("/v1/snapshots/run", headers=hooks.headers())
    assert first.status_code == 202, first.text
    # c3 pays again from today: it enters the cohort; c1 stops 1 day ago: it exits
    import_files(
        hooks,
        {
            "subscriptions": SUBSCRIPTIONS.replace(
                f"s1,c1,pro,USD,19.99,{days_ago(10)},,active",
                f"s1,c1,pro,USD,19.99,{days_ago(10)},{days_ago(1)},active",
            )
            + f"s5,c3,pro,EUR,7.00,{days_ago(0)},,active\n"
        },
    )
    second = hooks.client.post("/v1/snapshots/run", headers=hooks.headers())
    assert second.status_code == 202, second.text
    listed = hooks.client.get(
        "/v1/events",
        headers=hooks.headers(),
        params={"type": ["snapshot_run.completed", "cohort.members_changed"]},
    ).json()["data"]
    assert [e["type"] for e in listed] == [
        "cohort.members_changed",
        "snapshot_run.completed",
        "snapshot_run.completed",
    ]
    changed = listed[0]["data"]
    # first run: c1, c2 active; second: c2, c3 active (c1 ended yesterday)
    assert changed["cohort_id"] == made["id"]
    assert (changed["entered"], changed["exited"]) == (["c3"], ["c1"])
    assert (changed["entered_count"], changed["exited_count"], changed["member_count"]) == (1, 1, 2)
    assert listed[1]["data"]["object"] == "snapshot_run"
    # the second import's own subscription events: c1 cancelled, c3 reactivated
    subs = hooks.client.get(
        "/v1/events", headers=hooks.headers(), params={"type": "subscription.*", "limit": 2}
    ).json()["data"]
    assert sorted(e["type"] for e in subs) == ["subscription.cancelled", "subscription.reactivated"]
