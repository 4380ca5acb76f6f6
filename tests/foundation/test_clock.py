"""``cohortd.clock``: the UTC date, or the day ``COHORTD_TODAY`` pins."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cohortd import clock
from cohortd.config import Settings


def test_unset_is_the_utc_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.ENV, raising=False)
    before = datetime.now(UTC).date()
    found = clock.today()
    after = datetime.now(UTC).date()
    assert found in (before, after)  # the two readings differ only across midnight


def test_a_pinned_day_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, " 2020-02-29 ")
    assert clock.today() == date(2020, 2, 29)


@pytest.mark.parametrize("text", ["2020-02-30", "29/02/2020", "tomorrow"])
def test_a_bad_pin_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(clock.ENV, text)
    with pytest.raises(clock.InvalidToday, match="COHORTD_TODAY must be a date as YYYY-MM-DD"):
        clock.today()
    with pytest.raises(ValueError, match="today"):
        Settings()  # the server refuses to start on it too
