"""What each admin override does to a customer's MRR history (SPEC §9): pure rules.

``apply_override`` takes the customer's rows and one override and returns the rows to
write (the target row, ended, and the new ones); nothing here reads or writes a table,
so the service and the tests' serial replay use the very same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import assert_never


class OverrideKind(StrEnum):
    """The four overrides, as the paths name them."""

    cancel = "cancel"
    pause = "pause"
    resume = "resume"
    change_plan = "change_plan"


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """One stored subscription row (``mrr_minor`` in the currency's minor units)."""

    id: str
    customer_id: str
    plan_id: str | None
    currency: str
    mrr_minor: int
    start_date: date
    end_date: date | None
    status: str | None

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day < self.end_date)


@dataclass(frozen=True, slots=True)
class Override:
    """One override of row ``target_id`` from ``effective_date`` on. ``plan_id``,
    ``mrr_minor`` and ``currency`` are change_plan's; ``resume_date`` is pause's."""

    kind: OverrideKind
    target_id: str
    effective_date: date
    plan_id: str | None = None
    mrr_minor: int | None = None
    currency: str | None = None
    resume_date: date | None = None


@dataclass(frozen=True, slots=True)
class Rewrite:
    """The rows an override writes (upserts on ``id``) and the ids it removes."""

    upserts: tuple[SubscriptionRow, ...]
    removed: tuple[str, ...] = ()


class OverrideRejected(Exception):
    """The override is impossible on these rows; ``field`` names the body field (or
    ``id``, the path's row) at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def apply_override(
    rows: Sequence[SubscriptionRow], override: Override, new_id: Callable[[], str]
) -> Rewrite:
    """The rows ``override`` writes, given the customer's ``rows`` (the target among them).

    The target row ends on ``effective_date``; a row left with no day (it started that
    very day) is removed instead. New rows get ``new_id()``."""
    target = next(row for row in rows if row.id == override.target_id)
    day = override.effective_date
    first = min(row.start_date for row in rows)
    if day < first:
        raise OverrideRejected(
            "effective_date", f"is before the customer's first subscription row ({first})"
        )
    if not target.covers(day):
        ends = "on" if target.end_date is None else f"until {target.end_date}"
        raise OverrideRejected(
            "effective_date",
            f"row '{target.id}' does not cover {day} (it runs from {target.start_date} {ends})",
        )
    added: list[SubscriptionRow]
    match override.kind:
        case OverrideKind.cancel:
            added = []
        case OverrideKind.change_plan:
            assert override.mrr_minor is not None
            added = [
                replace(
                    target,
                    id=new_id(),
                    plan_id=override.plan_id,
                    currency=override.currency or target.currency,
                    mrr_minor=override.mrr_minor,
                    start_date=day,
                    status="active" if override.mrr_minor > 0 else target.status,
                )
            ]
        case OverrideKind.pause:
            added = _paused(target, day, override.resume_date, new_id)
        case OverrideKind.resume:
            added = [_resumed(rows, target, day, new_id)]
        case _:
            assert_never(override.kind)
    if day == target.start_date:
        return Rewrite(tuple(added), removed=(target.id,))
    return Rewrite((replace(target, end_date=day), *added))


def _paused(
    target: SubscriptionRow, day: date, resume: date | None, new_id: Callable[[], str]
) -> list[SubscriptionRow]:
    if resume is not None:
        if resume <= day:
            raise OverrideRejected("resume_date", "must be after effective_date")
        if target.end_date is not None and resume >= target.end_date:
            raise OverrideRejected(
                "resume_date", f"must be before the row's end_date ({target.end_date})"
            )
    paused = replace(target, id=new_id(), mrr_minor=0, start_date=day, end_date=resume)
    paused = replace(paused, status="paused")
    if resume is None:
        return [paused]
    return [paused, replace(target, id=new_id(), start_date=resume)]


def _resumed(
    rows: Sequence[SubscriptionRow], target: SubscriptionRow, day: date, new_id: Callable[[], str]
) -> SubscriptionRow:
    if target.status != "paused":
        raise OverrideRejected("id", f"row '{target.id}' is not paused")
    before = [row for row in rows if row.end_date == target.start_date and row.id != target.id]
    if not before:
        raise OverrideRejected(
            "id", f"no row ended on {target.start_date}, where the pause of '{target.id}' began"
        )
    # several rows ended that day: the one with the highest MRR (ties: smallest id)
    previous = min(before, key=lambda row: (-row.mrr_minor, row.id))
    return replace(
        previous,
        id=new_id(),
        start_date=day,
        end_date=None,
        status="active" if previous.mrr_minor > 0 else previous.status,
    )


def rewritten(rows: Sequence[SubscriptionRow], rewrite: Rewrite) -> list[SubscriptionRow]:
    """``rows`` after ``rewrite``, ordered by start date and id."""
    gone = set(rewrite.removed) | {row.id for row in rewrite.upserts}
    kept = [row for row in rows if row.id not in gone]
    return sorted([*kept, *rewrite.upserts], key=lambda row: (row.start_date, row.id))
