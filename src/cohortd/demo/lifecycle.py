"""The MRR history of a chunk of customers, simulated for all of them at once with numpy.

A customer may start a trial (MRR 0), then lives one or more *paid lives*: a run of
stretches (expansions, contractions, pauses) ending in churn, possibly followed by a
reactivation (a new life, later). Some accounts add a second, overlapping subscription.
Time is counted in whole days since 1970-01-01; `OPEN` marks a still-running stretch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from cohortd.demo import pricing
from cohortd.demo.catalog import BASE_PLAN_COUNT, PLANS, SEGMENTS

OPEN = -1
BASE_LINE, ADDON_LINE = 0, 1
MAX_LIVES = 3  # a first paid life and at most two reactivations


class RowStatus(IntEnum):
    """Status of one stretch; the names are the values written to the files."""

    active = 0
    trialing = 1
    paused = 2
    cancelled = 3
    lapsed = 4


_LIFETIME_DAYS = np.array([segment.lifetime_days for segment in SEGMENTS])
_PAUSE_SHARE = np.array([segment.pause_share for segment in SEGMENTS])
_ADDON_SHARE = np.array([segment.addon_share for segment in SEGMENTS])
_PLAN_WEIGHTS = np.array([segment.plan_weights for segment in SEGMENTS])
_ADDON_PLANS = np.arange(BASE_PLAN_COUNT, len(PLANS))


@dataclass(frozen=True, slots=True)
class Accounts:
    """What the simulation needs to know about each customer of the chunk."""

    signup_day: np.ndarray
    segment: np.ndarray
    currency: np.ndarray
    propensity: np.ndarray  # latent churn propensity, N(0, 1): high = churns sooner
    horizon: int  # "today": the last day simulated


@dataclass(frozen=True, slots=True)
class Stretches:
    """Subscription rows as parallel arrays (customer = index within the chunk)."""

    customer: np.ndarray
    plan: np.ndarray
    mrr: np.ndarray  # integer minor units
    start: np.ndarray
    end: np.ndarray  # OPEN = still running
    status: np.ndarray
    line: np.ndarray  # BASE_LINE or ADDON_LINE: stretches of one line never overlap


class _RowBuffer:
    """Collects stretches as they are simulated; `stretches()` sorts them per customer."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        customer: np.ndarray,
        plan: np.ndarray,
        mrr: np.ndarray | int,
        start: np.ndarray,
        end: np.ndarray,
        status: np.ndarray | int,
        line: int = BASE_LINE,
    ) -> None:
        size = customer.size
        if size == 0:
            return
        self._parts.append(
            (
                customer,
                plan,
                np.broadcast_to(np.asarray(mrr, dtype=np.int64), size),
                start,
                end,
                np.broadcast_to(np.asarray(status, dtype=np.int8), size),
                np.full(size, line, dtype=np.int8),
            )
        )

    def stretches(self) -> Stretches:
        columns = [
            np.concatenate([part[i] for part in self._parts]) if self._parts else np.zeros(0)
            for i in range(7)
        ]
        dtypes = (np.int64, np.int8, np.int64, np.int64, np.int64, np.int8, np.int8)
        columns = [column.astype(dtype) for column, dtype in zip(columns, dtypes, strict=True)]
        customer, _, _, start, _, _, line = columns
        order = np.lexsort((line, start, customer))
        return Stretches(*(column[order] for column in columns))


@dataclass(frozen=True, slots=True)
class _Life:
    """Customers starting a paid life, with its first day, plan and price."""

    customer: np.ndarray
    start: np.ndarray
    plan: np.ndarray
    mrr: np.ndarray


@dataclass(frozen=True, slots=True)
class _LifeEnd:
    """How each paid life ended (`churn_day` may lie past the horizon: still running)."""

    customer: np.ndarray
    start: np.ndarray
    churn_day: np.ndarray
    plan: np.ndarray
    last_status: np.ndarray  # status of the life's last stretch


def simulate(rng: np.random.Generator, accounts: Accounts) -> Stretches:
    """Simulate every customer's subscription rows up to `accounts.horizon`."""
    rows = _RowBuffer()
    life = _trials_and_first_start(rng, accounts, rows)
    first_end: _LifeEnd | None = None
    for life_number in range(MAX_LIVES):
        ended = _paid_life(rng, accounts, life, rows)
        if life_number == 0:
            first_end = ended
        life = _reactivations(rng, accounts, ended)
        if life.customer.size == 0:
            break
    if first_end is not None:
        _addons(rng, accounts, first_end, rows)
    return rows.stretches()


def _trials_and_first_start(
    rng: np.random.Generator, accounts: Accounts, rows: _RowBuffer
) -> _Life:
    """Who subscribes, who trials first (~30%), who converts; the first paid starts."""
    n, horizon = accounts.signup_day.size, accounts.horizon
    lag = np.where(rng.random(n) < 0.7, 0, rng.integers(1, 8, n))
    first_day = accounts.signup_day + lag
    # 4% sign up and never subscribe (a customer row without subscription rows).
    starts = (rng.random(n) < 0.96) & (first_day <= horizon)
    cumulative = np.cumsum(_PLAN_WEIGHTS[accounts.segment], axis=1)
    cumulative /= cumulative[:, -1:]
    plan = (rng.random((n, 1)) > cumulative).sum(axis=1)
    trial = starts & (rng.random(n) < 0.30)
    trial_end = first_day + np.where(rng.random(n) < 0.7, 14, 30)
    trial_open = trial_end > horizon
    # Engaged accounts (low propensity) convert more often; some trials never convert.
    conversion = np.clip(0.62 - 0.12 * accounts.propensity, 0.25, 0.9)
    converts = trial & ~trial_open & (rng.random(n) < conversion)
    trialing = np.flatnonzero(trial)
    rows.add(
        trialing,
        plan[trialing],
        0,
        first_day[trialing],
        np.where(trial_open[trialing], OPEN, trial_end[trialing]),
        RowStatus.trialing,
    )
    payers = np.flatnonzero((starts & ~trial) | converts)
    paid_start = np.where(trial, trial_end, first_day)[payers]
    price = pricing.list_price(rng, plan[payers], accounts.currency[payers])
    return _Life(payers, paid_start, plan[payers], price)


def _paid_life(
    rng: np.random.Generator, accounts: Accounts, life: _Life, rows: _RowBuffer
) -> _LifeEnd:
    """Stretches from the life's start to its churn (Weibull lifetime: hazard falls with age)."""
    n, horizon, customer = life.customer.size, accounts.horizon, life.customer
    segment = accounts.segment[customer]
    scale = _LIFETIME_DAYS[segment] * np.exp(-0.55 * accounts.propensity[customer])
    lifetime = np.maximum(30, np.ceil(scale * rng.weibull(0.75, n))).astype(np.int64)
    churn_day = life.start + lifetime
    churned = churn_day <= horizon
    stop = np.minimum(churn_day, horizon + 1)
    end_value = np.where(churned, churn_day, OPEN)
    churn_status = np.where(
        rng.random(n) < np.where(segment == 0, 0.3, 0.15), RowStatus.lapsed, RowStatus.cancelled
    )
    final_status = np.where(churned, churn_status, RowStatus.active).astype(np.int8)
    last_status = final_status.copy()
    day, mrr, plan = life.start.copy(), life.mrr.copy(), life.plan.copy()
    alive = np.arange(n)
    while alive.size:
        event_day = day[alive] + 20 + rng.exponential(80, alive.size).astype(np.int64)
        ending = event_day >= stop[alive]
        done = alive[ending]
        rows.add(
            customer[done], plan[done], mrr[done], day[done], end_value[done], final_status[done]
        )
        going, event_day = alive[~ending], event_day[~ending]
        rows.add(customer[going], plan[going], mrr[going], day[going], event_day, RowStatus.active)
        day[going] = event_day
        pause = rng.random(going.size) < _PAUSE_SHARE[segment[going]]
        _change_price(rng, accounts, going[~pause], customer, mrr, plan)
        paused, resumed = _pause(rng, going[pause], customer, day, plan, stop, end_value, rows)
        last_status[paused] = RowStatus.paused
        alive = np.sort(np.concatenate([going[~pause], resumed]))
    return _LifeEnd(customer, life.start, churn_day, plan, last_status)


def _change_price(
    rng: np.random.Generator,
    accounts: Accounts,
    changing: np.ndarray,
    customer: np.ndarray,
    mrr: np.ndarray,
    plan: np.ndarray,
) -> None:
    """Expansion or contraction in place; accounts likely to stay tend to grow."""
    who = customer[changing]
    grow_share = np.clip(0.68 - 0.1 * accounts.propensity[who], 0.4, 0.9)
    grows = rng.random(changing.size) < grow_share
    currency = accounts.currency[who]
    up_mrr, up_plan = pricing.expand(rng, mrr[changing], plan[changing], currency)
    down_mrr, down_plan = pricing.contract(rng, mrr[changing], plan[changing], currency)
    mrr[changing] = np.where(grows, up_mrr, down_mrr)
    plan[changing] = np.where(grows, up_plan, down_plan)


def _pause(
    rng: np.random.Generator,
    pausing: np.ndarray,
    customer: np.ndarray,
    day: np.ndarray,
    plan: np.ndarray,
    stop: np.ndarray,
    end_value: np.ndarray,
    rows: _RowBuffer,
) -> tuple[np.ndarray, np.ndarray]:
    """A pause of 30 days or more at MRR 0; returns (paused to the end, resumed)."""
    pause_end = day[pausing] + 30 + rng.exponential(45, pausing.size).astype(np.int64)
    to_the_end = pause_end >= stop[pausing]
    rows.add(
        customer[pausing],
        plan[pausing],
        0,
        day[pausing],
        np.where(to_the_end, end_value[pausing], pause_end),
        RowStatus.paused,
    )
    # The account resumes at its old price, as billing systems do after a pause.
    day[pausing] = pause_end
    return pausing[to_the_end], pausing[~to_the_end]


def _reactivations(rng: np.random.Generator, accounts: Accounts, ended: _LifeEnd) -> _Life:
    """Some churned accounts come back months later (a new row, a new paid life)."""
    n = ended.customer.size
    churned = ended.churn_day <= accounts.horizon
    back_share = np.where(ended.last_status == RowStatus.lapsed, 0.3, 0.2)
    restart = ended.churn_day + 30 + rng.exponential(200, n).astype(np.int64)
    back = np.flatnonzero(churned & (rng.random(n) < back_share) & (restart <= accounts.horizon))
    # Most come back on the plan they left, some one plan lower.
    plan = ended.plan[back] - (rng.random(back.size) < 0.3)
    plan = np.clip(plan, 0, BASE_PLAN_COUNT - 1)
    customer = ended.customer[back]
    price = pricing.list_price(rng, plan, accounts.currency[customer])
    return _Life(customer, restart[back], plan, price)


def _addons(
    rng: np.random.Generator, accounts: Accounts, first: _LifeEnd, rows: _RowBuffer
) -> None:
    """A second subscription beside the first paid life, ending with it at the latest."""
    n, horizon = first.customer.size, accounts.horizon
    segment = accounts.segment[first.customer]
    churn_day = first.churn_day
    addon_start = first.start + 20 + rng.exponential(250, n).astype(np.int64)
    fits = addon_start < np.minimum(churn_day, horizon + 1)
    chosen = (rng.random(n) < _ADDON_SHARE[segment]) & fits
    index = np.flatnonzero(chosen)
    customer = first.customer[index]
    plan = _ADDON_PLANS[rng.integers(0, _ADDON_PLANS.size, index.size)]
    price = pricing.list_price(rng, plan, accounts.currency[customer])
    lifetime = np.maximum(20, np.ceil(900 * rng.weibull(0.8, index.size))).astype(np.int64)
    addon_end = np.minimum(addon_start[index] + lifetime, churn_day[index])
    closed = addon_end <= horizon
    # Ending with the account: say "lapsed" exactly when the account's last row does, so
    # whichever of the two same-day rows counts as "ended last", the derived status agrees.
    with_account = closed & (addon_end == churn_day[index])
    account_lapsed = first.last_status[index] == RowStatus.lapsed
    status = np.where(closed, RowStatus.cancelled, RowStatus.active)
    status = np.where(with_account & account_lapsed, RowStatus.lapsed, status)
    rows.add(
        customer,
        plan,
        price,
        addon_start[index],
        np.where(closed, addon_end, OPEN),
        status,
        line=ADDON_LINE,
    )
