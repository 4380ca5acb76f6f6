"""Delivery against a real receiver on 127.0.0.1: retries, Retry-After, 410, timeouts,
huge and garbage answers, redirects, modes, rotation, and secrets at rest."""

from __future__ import annotations

import json
import time
from typing import Any

from standardwebhooks import Webhook

from tests.fixtures.api import ApiHarness
from tests.webhooks.helpers import create_destination, recurr_valid
from tests.webhooks.receiver import Receiver


def cohort(api: ApiHarness, name: str = "VIPs", mode: str = "test") -> dict[str, Any]:
    answer = api.client.post(
        "/v1/cohorts",
        headers=api.headers(mode),
        json={"name": name, "definition": {"tags_include": ["vip"]}},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def deliveries(api: ApiHarness, dest_id: str, mode: str = "test") -> list[dict[str, Any]]:
    answer = api.client.get(
        f"/v1/destinations/{dest_id}/deliveries?limit=100", headers=api.headers(mode)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]  # type: ignore[no-any-return]


def settled(
    api: ApiHarness, dest_id: str, *, timeout: float = 20.0, mode: str = "test"
) -> list[dict[str, Any]]:
    """The deliveries once none is pending (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        found = deliveries(api, dest_id, mode)
        if (found and all(d["status"] != "pending" for d in found)) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_failing_receiver_gets_the_retry_with_the_same_body(
    hooks: ApiHarness, receiver: Receiver
) -> None:
    dest = create_destination(hooks, receiver.url, event_types=["cohort.*"])
    receiver.behave = "fail"
    made = cohort(hooks)
    first = receiver.wait_for(1)
    assert first, "no attempt arrived"
    receiver.behave = "ok"
    both = receiver.wait_for(2)
    assert len(both) >= 2
    assert both[0].body == both[1].body  # byte-identical on every attempt
    assert both[0].headers["webhook-id"] == both[1].headers["webhook-id"]
    Webhook(dest["signing_secret"]).verify(both[1].body, both[1].headers)
    body = json.loads(both[1].body)
    assert body["type"] == "cohort.created" and body["data"]["id"] == made["id"]
    assert body["livemode"] is False and body["tenant"]["id"] == hooks.org_id
    # one row per attempt, newest first: the failure and its retry
    retried, first_attempt = settled(hooks, dest["id"])
    assert retried["status"] == "succeeded" and retried["attempt"] == 2
    assert retried["response_status"] == 200 and retried["response_body"] == "thanks"
    assert retried["next_attempt_at"] is None
    assert first_attempt["status"] == "failed" and first_attempt["attempt"] == 1
    assert first_attempt["response_status"] == 500 and first_attempt["error"] == "answered 500"
    assert first_attempt["next_attempt_at"] is not None  # when the retry was due
    assert retried["event_id"] == first_attempt["event_id"] == body["id"]


def test_retries_end_in_failed_after_the_window(hooks: ApiHarness, receiver: Receiver) -> None:
    dest = create_destination(hooks, receiver.url)
    receiver.behave = "fail"
    cohort(hooks)
    rows = settled(hooks, dest["id"], timeout=30)
    # schedule 0.3 s (±10 %), window 7.2 s after the first attempt: ~20 attempts, then failed
    last = rows[0]
    assert last["status"] == "failed", last
    assert last["attempt"] >= 3 and last["response_status"] == 500
    assert last["error"] == "answered 500" and last["next_attempt_at"] is None
    # every attempt is a row: numbered down to 1, each earlier one failed with its retry due
    assert [r["attempt"] for r in rows] == list(range(len(rows), 0, -1))
    assert len({r["event_id"] for r in rows}) == 1
    assert all(r["status"] == "failed" and r["next_attempt_at"] for r in rows[1:])


def test_410_disables_the_destination_and_cancels_pending(
    hooks: ApiHarness, receiver: Receiver
) -> None:
    dest = create_destination(hooks, receiver.url)
    receiver.behave = "fail"
    for n in range(3):
        cohort(hooks, f"C{n}")
    receiver.wait_for(3)  # three pending deliveries, each failed once
    receiver.behave = "gone"
    found = settled(hooks, dest["id"])
    shown = hooks.client.get(f"/v1/destinations/{dest['id']}", headers=hooks.headers()).json()
    assert shown["disabled"] is True and shown["disabled_reason"] == "gone"
    # the attempt that met 410 failed; the others were cancelled unless their own
    # attempt was already in flight (then it met 410 too)
    assert {d["status"] for d in found} <= {"failed", "cancelled"}
    assert any(d["response_status"] == 410 and d["status"] == "failed" for d in found)
    sent = len(receiver.received())
    # a disabled destination gets no new deliveries, and nothing more is sent
    cohort(hooks, "Later")
    time.sleep(1.0)
    assert len(receiver.received()) == sent
    assert deliveries(hooks, dest["id"]) == found
    assert len({d["event_id"] for d in found}) == 3
    enabled = hooks.client.patch(
        f"/v1/destinations/{dest['id']}", headers=hooks.headers(), json={"disabled": False}
    )
    assert enabled.json()["disabled"] is False and enabled.json()["disabled_reason"] is None


def test_429_retry_after_is_honoured(hooks: ApiHarness, receiver: Receiver) -> None:
    dest = create_destination(hooks, receiver.url)
    receiver.behave, receiver.retry_after = "busy", 2
    cohort(hooks)
    first = receiver.wait_for(1)
    receiver.behave = "ok"
    both = receiver.wait_for(2)
    # the schedule says 0.3 s; Retry-After: 2 wins (clamped to step .. 24 h)
    assert both[1].at - first[0].at >= 1.9
    retried, busy = settled(hooks, dest["id"])
    assert retried["status"] == "succeeded" and busy["response_status"] == 429


def test_hanging_huge_garbage_and_redirect_answers_fail_fast_and_keep_2kb(
    hooks: ApiHarness, receiver: Receiver
) -> None:
    results: dict[str, dict[str, Any]] = {}
    for behave in ("hang", "huge", "garbage", "redirect"):
        dest = create_destination(hooks, receiver.url, event_types=["destination.test"])
        receiver.behave = behave
        sent = hooks.client.post(f"/v1/destinations/{dest['id']}/test", headers=hooks.headers())
        assert sent.status_code == 202, sent.text
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = deliveries(hooks, dest["id"])
            made = [d for d in found if d["status"] != "pending"]
            if made:
                results[behave] = made[-1]  # the first attempt
                break
            time.sleep(0.1)
        hooks.client.delete(f"/v1/destinations/{dest['id']}", headers=hooks.headers())
    hang, huge, garbage, redirect = (results[k] for k in ("hang", "huge", "garbage", "redirect"))
    # timeout 2 s: the hanging receiver fails within it (plus scheduling slack)
    assert hang["error"] == "timed out" and hang["duration_ms"] < 4000
    # a 1 GB answer: 200 but at most 2 KB read and kept
    assert len(huge["response_body"].encode()) <= 2048 and huge["response_status"] == 200
    assert garbage["error"].startswith("connection failed") and garbage["response_status"] is None
    assert redirect["error"] == "redirect not followed" and redirect["response_status"] == 302
    # the server is still healthy
    assert hooks.client.get("/v1/events", headers=hooks.headers()).status_code == 200


def test_a_test_mode_event_never_reaches_a_live_destination(
    hooks: ApiHarness, receiver: Receiver
) -> None:
    hooks.app.state.webhook_resolver = lambda host, port: ["93.184.215.14"]
    try:
        live = create_destination(hooks, "https://hooks.example.com/in", mode="live")
    finally:
        hooks.app.state.webhook_resolver = None
    test_dest = create_destination(hooks, receiver.url)
    cohort(hooks)  # a test-mode event
    [request] = receiver.wait_for(1)
    assert json.loads(request.body)["livemode"] is False
    assert deliveries(hooks, live["id"], "live") == []
    assert len(deliveries(hooks, test_dest["id"])) == 1
    # and the other way: the live destination is invisible to the test key
    assert (
        hooks.client.get(f"/v1/destinations/{live['id']}", headers=hooks.headers()).status_code
        == 404
    )


def test_rotation_grace_signs_with_both_secrets(hooks: ApiHarness, receiver: Receiver) -> None:
    dest = create_destination(hooks, receiver.url)
    rotated = hooks.client.post(
        f"/v1/destinations/{dest['id']}/rotate_secret",
        headers=hooks.headers(),
        json={"grace_hours": 2},
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["signing_secret"]
    assert new_secret != dest["signing_secret"] and rotated.json()["secret_rotation_ends_at"]
    cohort(hooks)
    [request] = receiver.wait_for(1)
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(dest["signing_secret"]).verify(request.body, request.headers)
    assert recurr_valid(new_secret, request.headers, request.body) == [True, False]
    assert recurr_valid(dest["signing_secret"], request.headers, request.body) == [False, True]
    # no grace: only the new secret signs
    again = hooks.client.post(
        f"/v1/destinations/{dest['id']}/rotate_secret",
        headers=hooks.headers(),
        json={"grace_hours": 0},
    ).json()
    cohort(hooks, "Two")
    latest = receiver.wait_for(2)[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    Webhook(again["signing_secret"]).verify(latest.body, latest.headers)


def test_the_database_holds_no_secret_in_clear(hooks: ApiHarness) -> None:
    dest = create_destination(hooks, "http://127.0.0.1:9/x")
    secret = dest["signing_secret"]
    for listed in (
        hooks.client.get("/v1/destinations", headers=hooks.headers()).text,
        hooks.client.get(f"/v1/destinations/{dest['id']}", headers=hooks.headers()).text,
    ):
        assert "whsec_" not in listed and "signing_secret" not in listed
    settings = hooks.app.state.settings
    raw = b""
    for path in settings.data_dir.glob("control.sqlite3*"):  # the file and its WAL
        raw += path.read_bytes()
    assert raw, "no control-plane file found"
    assert dest["id"].encode() in raw  # the row is there ...
    assert secret.encode() not in raw  # ... its secret is not, nor its key bytes
    assert secret.removeprefix("whsec_").encode() not in raw


def test_a_secret_the_keys_cannot_open_fails_its_attempts_and_the_loop_goes_on(
    hooks: ApiHarness, receiver: Receiver
) -> None:
    """A destination sealed with a key no longer configured (another data dir's, a key
    rotated away): its attempts fail naming the setting; other destinations still get
    theirs."""
    from cryptography.fernet import Fernet
    from sqlalchemy import update

    from cohortd.webhooks.models import Destination

    lost = create_destination(hooks, receiver.url, event_types=["cohort.*"])
    kept = create_destination(hooks, receiver.url, event_types=["cohort.*"])
    foreign = Fernet(Fernet.generate_key()).encrypt(b"whsec_AAAA").decode()
    with hooks.app.state.sessions.begin() as session:
        session.execute(
            update(Destination).where(Destination.id == lost["id"]).values(secret=foreign)
        )
    cohort(hooks, name="Sealed elsewhere")
    [arrived] = receiver.wait_for(1)
    Webhook(kept["signing_secret"]).verify(arrived.body, arrived.headers)
    deadline = time.monotonic() + 20
    while not (found := deliveries(hooks, lost["id"])) or found[0]["error"] is None:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    assert "COHORTD_SECRET_KEY" in found[0]["error"] and found[0]["status"] != "succeeded"
