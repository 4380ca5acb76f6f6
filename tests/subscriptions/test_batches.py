"""Group commit (``subscriptions.writer``): writes queued while the writer is busy are
applied together, each answered as if it had been applied alone.

The writer is held busy by taking the warehouse's writing lock in the test: the first
write's batch waits for it, and the writes submitted meanwhile queue up, so the next
batch holds all of them, deterministically."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from cohortd import clock
from cohortd.engine import derived
from cohortd.errors import NotFound, ValidationFailed
from cohortd.subscriptions import repository, service
from cohortd.subscriptions.rules import OverrideKind
from cohortd.subscriptions.schemas import CancelBody, ChangePlanBody, ResumeBody, SubscriptionUpsert
from cohortd.subscriptions.writer import writer_of
from cohortd.warehouse import Scope
from cohortd.warehouse.tables import DERIVED_TABLES
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness
from tests.subscriptions.helpers import stored_rows

D0 = date(2025, 1, 1)
TODAY = clock.today()
PEOPLE = ("ann", "bob", "cat", "dan", "eve")


def _queued(harness: ApiHarness, writes: list[Callable[[], Any]]) -> list[Any]:
    """Run ``writes`` from threads of their own while the writer is held busy by a first
    write; every write's answer (or error), in order."""
    warehouse = harness.warehouse
    writer = writer_of(warehouse)
    answers: list[Any] = [None] * len(writes)

    def run(i: int) -> None:
        try:
            answers[i] = writes[i]()
        except Exception as error:  # the write's own error is its answer
            answers[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writes))]
    with warehouse._lock:  # the writer's transaction waits for it
        threads[0].start()
        _wait(lambda: not writer._queue and writer._running)  # the first batch has it
        for thread in threads[1:]:
            thread.start()
        _wait(lambda: len(writer._queue) == len(writes) - 1)
    for thread in threads:
        thread.join(timeout=120)
    return answers


def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the writes did not queue"
        time.sleep(0.005)


def _plan(harness: ApiHarness, row: str, mrr: str) -> Callable[[], Any]:
    scope = Scope(harness.org_id, False)
    sessions = harness.app.state.sessions
    body = ChangePlanBody(plan_id=f"p{mrr}", mrr=mrr)  # effective today
    return lambda: service.override(
        harness.warehouse, scope, row, OverrideKind.change_plan, body, sessions=sessions
    )


def _stocked(harness: ApiHarness) -> Scope:
    """Test mode: each of ``PEOPLE`` pays 10.00 USD on plan ``start`` from 2025-01-01 on
    (row ``sub_<name>``)."""
    scope = Scope(harness.org_id, False)
    load(
        harness.warehouse,
        scope,
        [Cust(p, currency="USD") for p in PEOPLE],
        [Sub(f"sub_{p}", p, D0, None, 1000, plan_id="start") for p in PEOPLE],
    )
    return scope


def _events(harness: ApiHarness) -> list[tuple[str, str]]:
    answer = harness.client.get(
        "/v1/events?type=subscription.*&limit=100", headers=harness.headers()
    )
    assert answer.status_code == 200, answer.text
    return sorted((e["subscriber"]["id"], e["type"]) for e in answer.json()["data"])


def test_queued_writes_make_one_batch_each_answered_alone(api_any: ApiHarness) -> None:
    """ann, bob, cat, dan and eve pay 10.00 USD on plan ``start`` from 2025-01-01 on; eight
    writes queue while the writer is busy."""
    harness = api_any
    scope = _stocked(harness)
    writer = writer_of(harness.warehouse)
    before = writer.batches
    sessions = harness.app.state.sessions
    answers = _queued(
        harness,
        [
            _plan(harness, "sub_ann", "20"),  # the first batch, alone
            _plan(harness, "sub_bob", "30"),  # the second batch from here
            _plan(harness, "sub_cat", "5"),
            lambda: service.override(  # no such row: 404, the others go on
                harness.warehouse,
                scope,
                "sub_nobody",
                OverrideKind.cancel,
                CancelBody(),
                sessions=sessions,
            ),
            lambda: service.override(  # sub_dan is not paused: 422, the others go on
                harness.warehouse,
                scope,
                "sub_dan",
                OverrideKind.resume,
                ResumeBody(),
                sessions=sessions,
            ),
            _plan(harness, "sub_eve", "40"),
            lambda: service.upsert_subscription(  # bob again: deferred to a third batch
                harness.warehouse,
                scope,
                SubscriptionUpsert(
                    id="sub_bob_addon",
                    customer_id="bob",
                    currency="USD",
                    mrr="7",
                    start_date=TODAY.isoformat(),
                ),
                sessions=sessions,
            ),
            lambda: service.upsert_subscription(  # a customer that does not exist: 422
                harness.warehouse,
                scope,
                SubscriptionUpsert(
                    id="sub_x", customer_id="zed", currency="USD", mrr="1", start_date="2025-01-01"
                ),
                sessions=sessions,
            ),
        ],
    )
    assert writer.batches - before == 3  # ann; bob, cat, eve (and the rejected); bob again
    assert isinstance(answers[3], NotFound)
    assert isinstance(answers[4], ValidationFailed)
    assert answers[4].errors[0].loc == ("path", "id")  # resume of a row that is not paused
    assert isinstance(answers[7], ValidationFailed)
    assert answers[7].errors[0].loc == ("body", "customer_id")

    def shape(answer: Any) -> list[tuple[Any, ...]]:
        return [(r.plan_id, r.mrr, r.start_date, r.end_date) for r in answer.data]

    ended = ("start", "10.00", D0, TODAY)
    assert shape(answers[0]) == [ended, ("p20", "20.00", TODAY, None)]
    assert shape(answers[2]) == [ended, ("p5", "5.00", TODAY, None)]
    assert shape(answers[5]) == [ended, ("p40", "40.00", TODAY, None)]
    assert shape(answers[1]) == [ended, ("p30", "30.00", TODAY, None)]
    # bob's second write came after the first: its answer holds both
    assert sorted(shape(answers[6]), key=str) == sorted(
        [ended, ("p30", "30.00", TODAY, None), (None, "7.00", TODAY, None)], key=str
    )
    # dan's rejected resume changed nothing
    dan = repository.customer_rows(harness.warehouse, scope, "dan")
    assert [(r.id, r.end_date) for r in dan] == [("sub_dan", None)]
    # each accepted change made its own events (bob: two upgrades), none the rejected
    assert _events(harness) == [
        ("ann", "subscription.upgraded"),
        ("bob", "subscription.upgraded"),
        ("bob", "subscription.upgraded"),
        ("cat", "subscription.downgraded"),
        ("eve", "subscription.upgraded"),
    ]
    # the derived rows are those of a full rebuild
    live = stored_rows(harness.warehouse, scope, DERIVED_TABLES)
    with harness.warehouse.transaction():
        derived.refresh(harness.warehouse, scope)
    assert stored_rows(harness.warehouse, scope, DERIVED_TABLES) == live


def test_a_batch_that_fails_is_retried_one_write_at_a_time(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error in a batch (here: writing the rows of more than one write fails)
    rolls it back; each of its writes is then applied alone, and each succeeds."""
    scope = _stocked(api)
    write_rows = repository.write_rows

    def failing(warehouse: object, scope: Scope, *, upserts: list, removed: list) -> None:  # type: ignore[type-arg]
        if len(upserts) > 2:  # one plan change writes two rows
            raise RuntimeError("the disk is full")
        write_rows(warehouse, scope, upserts=upserts, removed=removed)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "write_rows", failing)
    writer = writer_of(api.warehouse)
    before = writer.batches
    answers = _queued(api, [_plan(api, f"sub_{p}", str(10 + i)) for i, p in enumerate(PEOPLE)])
    # ann alone; the other four together, failed; then each of the four alone
    assert writer.batches - before == 6
    for i, answer in enumerate(answers):
        assert not isinstance(answer, Exception), answer
        assert [r.plan_id for r in answer.data] == ["start", f"p{10 + i}"]
    for person in PEOPLE:
        rows = repository.customer_rows(api.warehouse, scope, person)
        assert len(rows) == 2  # written once, nothing doubled by the failed batch
