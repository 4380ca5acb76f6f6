"""The garbage collector's pause around a report's cells (engine.collection)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from cohortd.engine import collection


@pytest.fixture(autouse=True)
def _restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    gc.enable()
    with collection.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_pauses_switch_it_back_on_only_when_the_outer_one_ends() -> None:
    gc.enable()
    with collection.paused():
        with collection.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_is_back_on_after_an_exception() -> None:
    gc.enable()
    with pytest.raises(ValueError), collection.paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_switched_off_by_someone_else_stays_off() -> None:
    gc.disable()
    with collection.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_concurrent_users_keep_it_off_until_the_last_leaves() -> None:
    gc.enable()
    entered, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with collection.paused():
            entered.set()
            release.wait(10)
            seen.append(gc.isenabled())

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with collection.paused():
        pass
    assert not gc.isenabled()  # the other thread is still inside
    release.set()
    thread.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_pause_kept_by_overlapping_users_ends_after_the_longest_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.enable()
    monkeypatch.setattr(collection, "LONGEST_PAUSE", 0.0)
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with collection.paused():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with collection.paused():
        assert not gc.isenabled()
    assert gc.isenabled()  # the other user is still inside, but the pause ran too long
    release.set()
    thread.join(10)
    assert gc.isenabled()
