"""Each customer's status and plan on the horizon day, derived exactly as SPEC §1 says.

The generator writes them into the customer file for some customers (the "given"
status and plan describe today), so the given values always agree with the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortd.demo.catalog import PLAN_IDS
from cohortd.demo.lifecycle import OPEN, RowStatus, Stretches

NONE = -1
# Rank of each plan index in the alphabetical order of plan ids (SPEC ties: smallest id).
_PLAN_ALPHA_RANK = np.argsort(np.argsort(np.array(PLAN_IDS)))


@dataclass(frozen=True, slots=True)
class CurrentState:
    """Per customer of the chunk: RowStatus code and plan index on the horizon, or NONE."""

    status: np.ndarray
    plan: np.ndarray


def current_state(rows: Stretches, customers: int) -> CurrentState:
    """SPEC §1 derivation on the horizon day, when every stretch starts on or before it.

    MRR > 0 -> active; else an open paused row -> paused; else an open row -> trialing;
    else the last ended row says lapsed -> lapsed, otherwise cancelled; no rows -> none.
    """
    running = rows.end == OPEN
    running_mrr = np.zeros(customers, dtype=np.int64)
    np.add.at(running_mrr, rows.customer[running], rows.mrr[running])
    has_running = np.bincount(rows.customer[running], minlength=customers) > 0
    paused_rows = running & (rows.status == RowStatus.paused)
    has_paused = np.bincount(rows.customer[paused_rows], minlength=customers) > 0
    has_rows = np.bincount(rows.customer, minlength=customers) > 0
    last_lapsed = _last_ended_lapsed(rows, customers)
    status = np.select(
        [running_mrr > 0, has_paused, has_running, has_rows & last_lapsed, has_rows],
        [
            RowStatus.active,
            RowStatus.paused,
            RowStatus.trialing,
            RowStatus.lapsed,
            RowStatus.cancelled,
        ],
        default=NONE,
    ).astype(np.int8)
    return CurrentState(status, _current_plan(rows, running, customers))


def _last_ended_lapsed(rows: Stretches, customers: int) -> np.ndarray:
    """Whether the customer's last-ended row says lapsed (ties agree by construction)."""
    ended = np.flatnonzero(rows.end != OPEN)
    order = ended[np.lexsort((rows.end[ended], rows.customer[ended]))]
    customer = rows.customer[order]
    last = np.ones(order.size, dtype=bool)
    last[:-1] = customer[:-1] != customer[1:]
    lapsed = np.zeros(customers, dtype=bool)
    lapsed[customer[last]] = rows.status[order[last]] == RowStatus.lapsed
    return lapsed


def _current_plan(rows: Stretches, running: np.ndarray, customers: int) -> np.ndarray:
    """Plan of the running row with the highest MRR; ties go to the smallest plan id."""
    index = np.flatnonzero(running)
    order = index[
        np.lexsort((_PLAN_ALPHA_RANK[rows.plan[index]], -rows.mrr[index], rows.customer[index]))
    ]
    customer = rows.customer[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = customer[1:] != customer[:-1]
    plan = np.full(customers, NONE, dtype=np.int8)
    plan[customer[first]] = rows.plan[order[first]]
    return plan
