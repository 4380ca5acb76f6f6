"""The movements' Decimal totals do not depend on the order the warehouse returns rows
in: DuckDB and Spark return the same rows in different orders, and a sum rounded to 28
digits at each step would differ in its last digits (stored anomaly values did)."""

from __future__ import annotations

import hashlib
import random
from datetime import date
from decimal import Context, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortd.engine.movement_model import Movement, Window
from cohortd.engine.movements import assemble


class Book:
    """Factors with 50 significant digits, like ``fx.RateBook.minor_factor``'s."""

    def minor_factor(self, source: str, target: str, day: date) -> Decimal:
        if source == target:
            return Decimal("0.01")
        seed = hashlib.sha256(f"{source}{day}".encode()).hexdigest()
        digits = int(seed, 16) % 10**49 + 10**49  # 50 digits
        return Decimal(digits).scaleb(-53, Context(prec=60))


WINDOWS = [Window(date(2026, m, 1), date(2026, m, 28), date(2026, m, 28)) for m in (1, 2, 3)]
DAYS = [date(2025, 12, 31)] + [w.end for w in WINDOWS]
CURRENCIES = ["USD", "EUR", "JPY", "SEK", "BRL"]

rows = st.lists(
    st.tuples(
        st.sampled_from(["g1", "g2"]),
        st.sampled_from(CURRENCIES),
        st.integers(1, 3),
        st.sampled_from(list(Movement)),
        st.integers(0, 10**12),
        st.integers(0, 10**12),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=rows, seed=st.integers(0, 2**32))
def test_totals_are_the_same_in_any_row_order(rows: list[tuple], seed: int) -> None:
    moved = [
        {"group_id": g, "currency": c, "i": i, "movement": m.value, "s": s, "e": e, "members": 1}
        for g, c, i, m, s, e in rows
    ]
    levels = [{"group_id": g, "currency": c, "j": i, "v": e - s} for g, c, i, _, s, e in rows]
    paying = [{"group_id": g, "j": i, "k": 1} for g, _, i, *_ in rows]
    shuffled = [list(x) for x in (moved, levels, paying)]
    for part in shuffled:
        random.Random(seed).shuffle(part)
    args = (WINDOWS, DAYS, "USD", Book())
    one = assemble(*args, levels, paying, moved)  # type: ignore[arg-type]
    two = assemble(*args, shuffled[1], shuffled[2], shuffled[0])  # type: ignore[arg-type]
    assert one.groups.keys() == two.groups.keys()
    for group, series in one.groups.items():
        for a, b in zip(series, two.groups[group], strict=True):
            assert (a.starting_mrr, a.ending_mrr, a.fx_impact) == (
                b.starting_mrr, b.ending_mrr, b.fx_impact,
            )  # fmt: skip
            assert a.movements == b.movements


def test_many_parts_of_one_movement_in_any_order() -> None:
    # one period, one movement, parts of very different sizes in five currencies: a
    # running total kept to 28 digits rounds differently depending on the order
    rng = random.Random(7)
    moved = [
        {
            "group_id": "g",
            "currency": CURRENCIES[k % 5],
            "i": 1,
            "movement": "new",
            "s": 0,
            "e": rng.choice([1, 7, 10**6 + 3, 10**11 + 17, 999_999_999_989]),
            "members": 1,
        }
        for k in range(200)
    ]
    paying = [{"group_id": "g", "j": 1, "k": 200}]
    args = (WINDOWS, DAYS, "USD", Book())
    totals = set()
    for seed in range(20):
        rng.seed(seed)
        rng.shuffle(moved)
        table = assemble(*args, [], paying, moved)  # type: ignore[arg-type]
        totals.add(table.groups["g"][0].moved(Movement.new))
    assert len(totals) == 1
