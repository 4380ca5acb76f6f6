"""When customers sign up: a growing, seasonal timeline, delivered month by month.

Counts per month come from one multinomial draw over all months, so the total is exact
and the shape does not depend on how the months are later cut into chunks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from cohortd.demo.catalog import MONTH_SEASONALITY, WEEKEND_WEIGHT, YEARLY_GROWTH
from cohortd.demo.streams import stream

EPOCH: date = date(1970, 1, 1)
SECONDS_PER_DAY = 86_400


def day_number(day: date) -> int:
    """Days since 1970-01-01 (the integer the generator computes with)."""
    return (day - EPOCH).days


@dataclass(frozen=True, slots=True)
class SignupMonth:
    """One calendar month of the timeline, clipped to [start, end]."""

    index: int
    first_day: int  # day number, inclusive
    last_day: int  # day number, inclusive
    count: int


def _month_starts(start: date, end: date) -> list[date]:
    months = []
    current = start.replace(day=1)
    while current <= end:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def signup_months(*, customers: int, seed: int, start: date, end: date) -> list[SignupMonth]:
    """Split `customers` sign-ups over the months of [start, end] (growth x seasonality)."""
    months = _month_starts(start, end)
    first_days, last_days, weights = [], [], []
    for month_start in months:
        next_month = (month_start + timedelta(days=32)).replace(day=1)
        first = max(month_start, start)
        last = min(next_month - timedelta(days=1), end)
        years_in = (first - start).days / 365.25
        covered_days = (last - first).days + 1
        weights.append(
            YEARLY_GROWTH**years_in * MONTH_SEASONALITY[month_start.month - 1] * covered_days
        )
        first_days.append(day_number(first))
        last_days.append(day_number(last))
    probabilities = np.asarray(weights) / math.fsum(weights)
    counts = stream(seed, "signup-months").multinomial(customers, probabilities)
    return [
        SignupMonth(index, first_days[index], last_days[index], int(counts[index]))
        for index in range(len(months))
    ]


def signup_seconds(month: SignupMonth, *, seed: int) -> np.ndarray:
    """Sorted sign-up instants (seconds since the epoch, UTC) of one month."""
    rng = stream(seed, "signup-seconds", month.index)
    days = np.arange(month.first_day, month.last_day + 1, dtype=np.int64)
    # 1970-01-01 was a Thursday: (day + 3) % 7 gives 0 = Monday ... 6 = Sunday.
    weekday = (days + 3) % 7
    day_weights = np.where(weekday >= 5, WEEKEND_WEIGHT, 1.0)
    picked = rng.choice(days, size=month.count, p=day_weights / day_weights.sum())
    # Most sign-ups in working hours (around 14:00 UTC, Europe and America overlap).
    office = rng.normal(14 * 3600, 4 * 3600, size=month.count)
    anytime = rng.uniform(0, SECONDS_PER_DAY, size=month.count)
    second_of_day = np.where(rng.random(month.count) < 0.75, office, anytime)
    second_of_day = np.clip(second_of_day, 0, SECONDS_PER_DAY - 1).astype(np.int64)
    return np.sort(picked * SECONDS_PER_DAY + second_of_day)


def iter_month_chunks(
    months: list[SignupMonth], *, seed: int, chunk_size: int
) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Yield (month index, piece index, first global position, sign-up seconds) per chunk."""
    position = 0
    for month in months:
        if month.count == 0:
            continue
        seconds = signup_seconds(month, seed=seed)
        for piece, offset in enumerate(range(0, month.count, chunk_size)):
            part = seconds[offset : offset + chunk_size]
            yield month.index, piece, position, part
            position += len(part)
