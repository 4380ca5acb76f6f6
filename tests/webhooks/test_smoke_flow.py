"""End to end: a test-mode destination, an import, signed events at a real receiver."""

from __future__ import annotations

import json

from standardwebhooks import Webhook

from tests.fixtures.api import ApiHarness
from tests.webhooks.helpers import (
    CUSTOMERS,
    SUBSCRIPTIONS,
    create_destination,
    days_ago,
    import_files,
    recurr_valid,
)
from tests.webhooks.receiver import Receiver


def test_import_events_reach_the_receiver_signed(hooks_any: ApiHarness, receiver: Receiver) -> None:
    api = hooks_any
    dest = create_destination(api, receiver.url)
    secret = dest["signing_secret"]
    assert secret.startswith("whsec_")
    import_files(api, {"customers": CUSTOMERS, "subscriptions": SUBSCRIPTIONS})
    # c1 activated, c2 upgraded, c3 activated + cancelled, and import.completed: 5
    got = receiver.wait_for(5)
    types = sorted(r.headers["x-recurr-event-type"] for r in got)
    assert types == [
        "import.completed",
        "subscription.activated",
        "subscription.activated",
        "subscription.cancelled",
        "subscription.upgraded",
    ]
    for request in got:
        Webhook(secret).verify(request.body, request.headers)
        assert recurr_valid(secret, request.headers, request.body) == [True]
    bodies = {
        json.loads(r.body)["subscriber"]["id"]
        if json.loads(r.body)["subscriber"]
        else "-": json.loads(r.body)
        for r in got
        if "upgraded" in r.headers["x-recurr-event-type"]
    }
    upgraded = bodies["c2"]
    assert upgraded["data"] == {
        "effective_date": days_ago(5),
        "previous_mrr": 1000,
        "mrr": 2500,
        "currency": "USD",
        "previous_plan_id": "basic",
        "plan_id": "pro",
    }
    assert upgraded["subscriber"]["email"] == "bob@example.com"
