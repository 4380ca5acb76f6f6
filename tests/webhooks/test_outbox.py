"""The cross-plane design: subscription events commit with the data (warehouse outbox)
and are relayed into the control plane's log; a crash at either step loses nothing and
duplicates nothing (SQLite + DuckDB and PostgreSQL for both planes)."""

from __future__ import annotations

from typing import Any

import pytest

from cohortd.events import outbox
from cohortd.warehouse import Scope, scoped
from cohortd.warehouse.tables import EVENT_OUTBOX, SUBSCRIPTIONS
from tests.fixtures.api import ApiHarness
from tests.webhooks.helpers import CUSTOMERS, import_files
from tests.webhooks.helpers import SUBSCRIPTIONS as SUBS_FILE


def _events(api: ApiHarness, **params: Any) -> list[dict[str, Any]]:
    return api.client.get("/v1/events", headers=api.headers(), params=params).json()["data"]  # type: ignore[no-any-return]


def _outbox_rows(api: ApiHarness) -> int:
    table = scoped(api.warehouse, EVENT_OUTBOX, Scope(api.org_id, False))
    return int(api.warehouse.execute(table.count()))


def test_a_crash_after_the_outbox_write_rolls_both_back(
    hooks_any: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = hooks_any
    real_after = outbox.SubscriptionChanges.after

    def after_then_crash(self: outbox.SubscriptionChanges) -> None:
        real_after(self)
        assert self.recorded == 4  # the events were written ... then the merge fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(outbox.SubscriptionChanges, "after", after_then_crash)
    created = api.client.post(
        "/v1/imports",
        headers=api.headers(),
        files={
            "customers": ("c.csv", CUSTOMERS.encode()),
            "subscriptions": ("s.csv", SUBS_FILE.encode()),
        },
    )
    job = api.client.get(f"/v1/imports/{created.json()['id']}", headers=api.headers()).json()
    assert job["status"] == "failed"
    # no change without its event, no event without its change
    subs = scoped(api.warehouse, SUBSCRIPTIONS, Scope(api.org_id, False))
    assert int(api.warehouse.execute(subs.count())) == 0
    assert _outbox_rows(api) == 0
    assert [e["type"] for e in _events(api)] == ["import.failed"]


def test_a_crash_between_relay_commit_and_outbox_delete_is_repaired(
    hooks_any: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = hooks_any

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed before the outbox delete")

    monkeypatch.setattr(outbox, "_forget", crash)
    import_files(api, {"customers": CUSTOMERS, "subscriptions": SUBS_FILE})
    first = _events(api, type="subscription.*")
    assert len(first) == 4  # recorded in the control plane ...
    assert _outbox_rows(api) == 4  # ... and still in the outbox
    monkeypatch.undo()
    moved = outbox.relay(api.app.state.sessions, api.warehouse, Scope(api.org_id, False))
    assert moved in (0, 4)  # 0 if the server's own relay pass got there first
    assert _outbox_rows(api) == 0
    again = _events(api, type="subscription.*")
    assert sorted(e["id"] for e in again) == sorted(e["id"] for e in first)  # no duplicate


def test_two_relays_reading_the_same_rows_record_each_event_once(
    hooks_any: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relays of two processes (a CLI import beside a server) read the same outbox rows:
    the slower one's insert conflicts with the faster one's commit, and it reads again
    instead of failing. Two processes are played in one thread: this test holds the
    relay lock (the server's own relay passes wait) and a reentrant stand-in for it, and
    the slower relay's insert lets a whole other relay run just before it."""
    import threading

    from sqlalchemy import delete

    from cohortd.events import repository as event_repository
    from cohortd.events.models import Event

    api = hooks_any
    scope = Scope(api.org_id, False)
    real_forget = outbox._forget

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed before the outbox delete")

    monkeypatch.setattr(outbox, "_forget", crash)
    import_files(api, {"customers": CUSTOMERS, "subscriptions": SUBS_FILE})
    lock, stand_in = outbox._RELAYING, threading.RLock()
    with lock, stand_in:  # a relay pass in flight ends first; later ones wait
        monkeypatch.setattr(outbox, "_RELAYING", stand_in)
        monkeypatch.setattr(outbox, "_forget", real_forget)
        assert _outbox_rows(api) == 4  # recorded, still in the outbox
        # the log forgets them: the outbox rows are new to it again, as before a relay
        recorded = sorted(e["id"] for e in _events(api, type="subscription.*"))
        with api.app.state.sessions.begin() as session:
            session.execute(delete(Event).where(Event.id.in_(recorded)))
        real_add = event_repository.add_events
        raced: list[int] = []

        def add_after_another_relay(session: Any, rows: Any) -> None:
            if rows and not raced:
                raced.append(-1)  # the other relay's own insert goes straight through
                raced[0] = outbox.relay(api.app.state.sessions, api.warehouse, scope)
            real_add(session, rows)

        monkeypatch.setattr(event_repository, "add_events", add_after_another_relay)
        moved = outbox.relay(api.app.state.sessions, api.warehouse, scope)
    assert raced == [4]  # the other relay moved them first ...
    assert moved == 0  # ... and this one, after its conflict, found nothing left to move
    assert _outbox_rows(api) == 0
    assert sorted(e["id"] for e in _events(api, type="subscription.*")) == recorded
