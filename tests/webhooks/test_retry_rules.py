"""The retry rules of one attempt's outcome (SPEC §7), with hand-worked times."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cohortd.config import Settings
from cohortd.db import utcnow
from cohortd.webhooks.delivery import apply_outcome
from cohortd.webhooks.models import Delivery, Destination
from cohortd.webhooks.sender import AttemptResult, _retry_after

SETTINGS = Settings(webhook_retry_schedule="60,300,1800,7200,43200,86400")
NOW = utcnow()


def _pair(attempt: int = 1, first_ago: timedelta | None = None) -> tuple[Delivery, Destination]:
    """The row of attempt number ``attempt``, about to be recorded."""
    delivery = Delivery(
        id="dlv_x",
        org_id="org_x",
        livemode=False,
        event_id="evt_x",
        destination_id="dest_x",
        replay_id=None,
        attempt=attempt,
        first_attempt_at=NOW - first_ago if first_ago is not None else None,
        status="pending",
    )
    destination = Destination(disabled=False, disabled_reason=None, failing_since=None)
    return delivery, destination


def _failed(status: int | None = 500, retry_after: float | None = None) -> AttemptResult:
    return AttemptResult(False, status, 10, f"answered {status}", "no", retry_after)


@pytest.mark.parametrize(
    ("attempt", "step"),
    # after the 1st attempt wait 60 s, 2nd 300 s, 3rd 1800 s, ... 6th and later 86400 s
    [(1, 60), (2, 300), (3, 1800), (4, 7200), (5, 43200), (6, 86400), (10, 86400)],
)
def test_the_schedule_with_jitter(attempt: int, step: int) -> None:
    for jitter, factor in ((lambda: 0.9, 0.9), (lambda: 1.1, 1.1)):
        delivery, destination = _pair(attempt, timedelta(0))
        retry = apply_outcome(
            delivery, destination, _failed(), now=NOW, settings=SETTINGS, jitter=jitter
        )
        due = NOW + timedelta(seconds=step * factor)
        # the attempt's row keeps its number and answer, and says when the retry is due
        assert (delivery.status, delivery.attempt, delivery.next_attempt_at) == (
            "failed",
            attempt,
            due,
        )
        assert delivery.response_status == 500 and delivery.error == "answered 500"
        # the retry is a row of its own: the next number, pending, due then
        assert retry is not None and retry.id != delivery.id
        assert (retry.status, retry.attempt, retry.next_attempt_at) == ("pending", attempt + 1, due)
        assert (retry.event_id, retry.destination_id) == ("evt_x", "dest_x")
        assert retry.first_attempt_at == NOW and retry.response_status is None


def _retry_due(delivery: Delivery, destination: Destination, result: AttemptResult):  # type: ignore[no-untyped-def]
    retry = apply_outcome(
        delivery, destination, result, now=NOW, settings=SETTINGS, jitter=lambda: 1.0
    )
    assert retry is not None and retry.next_attempt_at == delivery.next_attempt_at
    return retry.next_attempt_at


def test_retry_after_is_clamped_between_the_step_and_a_day() -> None:
    # 429 with Retry-After 10 s on the 1st attempt: the step (60 s) wins
    assert _retry_due(*_pair(), _failed(429, 10)) == NOW + timedelta(seconds=60)
    # 503 with Retry-After 3600 s: waits an hour
    assert _retry_due(*_pair(), _failed(503, 3600)) == NOW + timedelta(seconds=3600)
    # Retry-After of 3 days: clamped to 24 h
    assert _retry_due(*_pair(), _failed(429, 3 * 86400)) == NOW + timedelta(days=1)
    # a 500's Retry-After is ignored
    assert _retry_due(*_pair(), _failed(500, 3600)) == NOW + timedelta(seconds=60)


def test_seven_days_after_the_first_attempt_it_is_failed() -> None:
    # first attempt 6 days 1 h ago; next wait 24 h would end after the 7-day window
    delivery, destination = _pair(7, timedelta(days=6, hours=1))
    retry = apply_outcome(
        delivery, destination, _failed(), now=NOW, settings=SETTINGS, jitter=lambda: 1.0
    )
    assert retry is None
    assert delivery.status == "failed" and delivery.next_attempt_at is None


def test_five_days_of_failures_disable_the_destination_and_success_resets() -> None:
    delivery, destination = _pair(4, timedelta(days=5))
    destination.failing_since = NOW - timedelta(days=4, hours=23)
    apply_outcome(delivery, destination, _failed(), now=NOW, settings=SETTINGS)
    assert destination.disabled is False  # 4 d 23 h: not yet
    destination.failing_since = NOW - timedelta(days=5)
    apply_outcome(delivery, destination, _failed(), now=NOW, settings=SETTINGS)
    assert (destination.disabled, destination.disabled_reason) == (True, "failing")
    ok, fresh = _pair(2, timedelta(hours=1))
    fresh.failing_since = NOW - timedelta(days=2)
    retry = apply_outcome(
        ok, fresh, AttemptResult(True, 200, 5, None, "ok"), now=NOW, settings=SETTINGS
    )
    assert retry is None and ok.status == "succeeded" and ok.next_attempt_at is None
    assert fresh.failing_since is None


def test_410_fails_and_disables_as_gone() -> None:
    delivery, destination = _pair()
    retry = apply_outcome(delivery, destination, _failed(410), now=NOW, settings=SETTINGS)
    assert retry is None and delivery.status == "failed" and delivery.next_attempt_at is None
    assert (destination.disabled, destination.disabled_reason) == (True, "gone")


def test_retry_after_header_forms() -> None:
    assert _retry_after("120") == 120.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    later = (utcnow() + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 80 <= (_retry_after(later) or 0) <= 91
