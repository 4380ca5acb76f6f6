"""Exchange rates: the one conversion module every query uses (SPEC §1).

A rate ``(date, currency, rate)`` is the number of ``currency`` units per 1 EUR (the ECB
convention). Two sources feed it: the shipped ECB history ``fx_ecb`` (shared by every
organization) and the organization's own ``fx_rates`` (scoped to org and mode). On a day
both hold a rate for a currency, the organization's wins; an organization rate on a day
the ECB lacks is simply one more observation.

The rate for day d is the latest observation on or before d; before the first
observation, the first. Converting X from A to B on day d is ``X * rate(B, d) /
rate(A, d)``; when A == B the factor is exactly 1. A currency without any rate raises
``UnknownCurrency`` naming it, never a silent 1.0.

Stable API (other engine modules import these):

- ``rate_intervals(warehouse, scope, currencies=None)`` -> Ibis table ``currency,
  valid_from, valid_to, rate``: one row per observation, valid on
  ``valid_from <= d < valid_to``. The first observation of a currency starts at
  ``OPEN_START`` and the last ends at ``OPEN_END`` so that an interval join needs no
  null handling (works on DuckDB and PostgreSQL, where Ibis has no as-of join).
- ``attach_rates(pairs, intervals, *, currency, day)`` -> ``pairs`` plus a ``rate``
  column, by an interval join (an Ibis expression; rows whose currency has no rate
  are dropped, so callers check coverage with ``require_currencies``).
- ``RateBook.load(warehouse, scope, pairs)``: the exact ``Decimal`` rates for a small
  set of ``(currency, day)`` pairs, fetched in one query; ``RateBook.factor(a, b, day)``
  gives the exact conversion factor from A to B on ``day`` (``Decimal``), and
  ``RateBook.minor_factor`` the factor from A's minor units to B's major unit.
- ``require_currencies(warehouse, scope, currencies)`` raises ``UnknownCurrency`` for
  the first currency without any rate.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np

from cohortd.engine.compiled import compiled
from cohortd.engine.money import exponent
from cohortd.errors import DataError
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import FX_ECB, FX_RATES, RATE_TYPE

OPEN_START: Final = date(1, 1, 1)
OPEN_END: Final = date(9999, 12, 31)
# Enough digits that one division per aggregate never shows in a 2-decimal result.
_PRECISION: Final = 50
ONE: Final = Decimal(1)
_EPOCH: Final = date(1970, 1, 1)


class UnknownCurrency(DataError):
    """A currency that has no exchange rate at all (neither ECB nor the organization's)."""

    slug = "unknown-currency"
    title = "Unknown Currency"

    def __init__(self, currency: str) -> None:
        super().__init__(
            f"No exchange rate is known for currency {currency!r}: "
            "import rates for it (fx_rates) or remove it from the data."
        )
        self.currency = currency


def observations(warehouse: Warehouse, scope: Scope) -> ir.Table:
    """``date, currency, rate``: ECB rates merged with the org's, the org's winning a day."""
    own = _observation_columns(scoped(warehouse, FX_RATES, scope))
    ecb = _observation_columns(warehouse.table(FX_ECB))
    overridden = ecb.join(own, ["date", "currency"], how="anti")
    return own.union(_observation_columns(overridden))


def _observation_columns(table: ir.Table) -> ir.Table:
    # one schema for both sources: backends disagree on reporting NOT NULL
    return table.select(
        date=table.date.cast(dt.date),
        currency=table.currency.cast(dt.string),
        rate=table.rate.cast(RATE_TYPE.copy(nullable=True)),
    )


def rate_intervals(
    warehouse: Warehouse, scope: Scope, currencies: Iterable[str] | None = None
) -> ir.Table:
    """``currency, valid_from, valid_to, rate``: each observation and the days it governs
    (only for ``currencies`` when given: much less to sort)."""
    rates = observations(warehouse, scope)
    if currencies is not None:
        rates = rates.filter(rates.currency.isin(sorted(set(currencies))))
    by_day = ibis.window(group_by=rates.currency, order_by=rates.date)
    nxt = rates.date.lead().over(by_day)
    first = ibis.row_number().over(by_day) == 0
    return rates.select(
        currency=rates.currency,
        valid_from=ibis.ifelse(first, ibis.literal(OPEN_START), rates.date),
        valid_to=nxt.fill_null(ibis.literal(OPEN_END)),
        rate=rates.rate,
    )


def attach_rates(
    pairs: ir.Table, intervals: ir.Table, *, currency: str = "currency", day: str = "day"
) -> ir.Table:
    """``pairs`` with the ``rate`` of ``pairs[currency]`` on ``pairs[day]`` (interval join)."""
    joined = pairs.join(
        intervals,
        [
            pairs[currency] == intervals.currency,
            intervals.valid_from <= pairs[day],
            pairs[day] < intervals.valid_to,
        ],
    )
    return joined.select(*[joined[c] for c in pairs.columns], rate=joined.rate)


def require_currencies(warehouse: Warehouse, scope: Scope, currencies: Iterable[str]) -> None:
    """Raise ``UnknownCurrency`` for the first of ``currencies`` with no rate at all."""
    wanted = sorted(set(currencies) - {"EUR"})
    if not wanted:
        return
    ecb = _ecb_history(warehouse)
    missing = [code for code in wanted if code not in ecb]
    if not missing:
        return
    own = _own_rates(warehouse, scope, missing)
    for code in missing:
        if code not in own:
            raise UnknownCurrency(code)


def warm(warehouse: Warehouse) -> None:
    """Read the ECB history into memory now rather than on the first report."""
    _ecb_history(warehouse)


@dataclass(frozen=True)
class RateBook:
    """Exact rates for a known, small set of ``(currency, day)`` pairs."""

    rates: dict[tuple[str, date], Decimal] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        warehouse: Warehouse,
        scope: Scope,
        pairs: Iterable[tuple[str, date]],
        own: OwnRates | None = None,
    ) -> RateBook:
        """The rate of every pair (EUR is 1 without asking).

        The shipped ECB history never changes once a warehouse holds it, so it is read
        once per warehouse and kept in memory (``_ecb_history``); the organization's
        own rates are read on every call (one small query), and win over the ECB's on
        the same day. Each day finds its rate by bisection."""
        pairs = set(pairs)
        wanted = sorted({(c, d) for c, d in pairs if c != "EUR"})
        book: dict[tuple[str, date], Decimal] = {(c, d): ONE for c, d in pairs if c == "EUR"}
        if not wanted:
            return cls(book)
        by_code: dict[str, list[date]] = {}
        for code, day in wanted:
            by_code.setdefault(code, []).append(day)
        ecb = _ecb_history(warehouse)
        if own is None:
            own = own_rates(warehouse, scope, by_code)
        for code, asked in by_code.items():
            days, rates = _merged(ecb.get(code), own.history.get(code))
            if days is None:
                raise UnknownCurrency(code)
            ordinals = np.array([(d - _EPOCH).days for d in asked], dtype=np.int32)
            # the latest observation on or before each day; before the first, the first
            at = np.maximum(np.searchsorted(days, ordinals, side="right") - 1, 0)
            book.update({(code, day): rates[int(i)] for day, i in zip(asked, at, strict=True)})
        return cls(book)

    def rate(self, currency: str, day: date) -> Decimal:
        """Units of ``currency`` per 1 EUR on ``day``."""
        if currency == "EUR":
            return ONE
        try:
            return self.rates[(currency, day)]
        except KeyError:
            raise UnknownCurrency(currency) from None

    def factor(self, source: str, target: str, day: date) -> Decimal:
        """Multiply a ``source`` amount by this to get ``target`` on ``day`` (1 exactly if same)."""
        if source == target:
            return ONE
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return self.rate(target, day) / self.rate(source, day)

    def minor_factor(self, source: str, target: str, day: date) -> Decimal:
        """Multiply ``source`` minor units by this to get ``target`` major units on ``day``."""
        if source == target:
            return ONE.scaleb(-exponent(source))
        return _minor_factor(self.rate(target, day), self.rate(source, day), exponent(source))


@lru_cache(maxsize=1 << 16)
def _minor_factor(target_rate: Decimal, source_rate: Decimal, source_exponent: int) -> Decimal:
    """``target_rate / source_rate`` (``_PRECISION`` digits) per minor unit of the source:
    a pure function of the two rates, so remembering it is exact (the same rates recur
    on every report of the same days)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return (target_rate / source_rate).scaleb(-source_exponent)


_History = dict[str, tuple[np.ndarray, list[Decimal]]]  # code -> (days since 1970, rates)
_ecb_cache: weakref.WeakKeyDictionary[Warehouse, _History] = weakref.WeakKeyDictionary()
_ecb_lock = threading.Lock()


def _ecb_history(warehouse: Warehouse) -> _History:
    """The shipped ECB history of ``warehouse``, per currency, read once: the table is
    filled when the warehouse is created and never written afterwards."""
    with _ecb_lock:
        found = _ecb_cache.get(warehouse)
    if found is not None:
        return found
    table = warehouse.table(FX_ECB)
    rows = warehouse.to_pyarrow(
        _observation_columns(table).order_by(["currency", "date"])
    ).to_pydict()
    history = _grouped(rows["currency"], rows["date"], rows["rate"])
    with _ecb_lock:
        _ecb_cache[warehouse] = history
    return history


@dataclass(frozen=True)
class OwnRates:
    """An organization's own rates of some currencies, and a digest of them (equal
    digests, equal rates: what a cache of converted values keys on)."""

    history: _History
    digest: str


def own_rates(warehouse: Warehouse, scope: Scope, codes: Iterable[str]) -> OwnRates:
    """The organization's own rates of ``codes`` (EUR needs none)."""
    wanted = sorted(set(codes) - {"EUR"})
    history = _own_rates(warehouse, scope, wanted) if wanted else {}
    digest = hashlib.sha256()
    for code in sorted(history):
        days, rates = history[code]
        digest.update(code.encode() + b"\0" + days.tobytes())
        digest.update("|".join(map(str, rates)).encode() + b"\0")
    return OwnRates(history, digest.hexdigest())


def _own_rates(warehouse: Warehouse, scope: Scope, codes: list[str]) -> _History:
    """The organization's own rates of ``codes`` (usually few or none), per currency."""

    def build() -> ir.Table:  # only when the SQL is not compiled yet
        own = _observation_columns(scoped(warehouse, FX_RATES, scope))
        return own.filter(own.currency.isin(codes)).order_by(["currency", "date"])

    sql = compiled(warehouse, ("fx_own", scope, tuple(codes)), build)
    rows = warehouse.fetch_arrow(sql).to_pydict()
    if not rows:
        return {}
    return _grouped(rows["currency"], rows["date"], rows["rate"])


def _grouped(codes: list[str], days: list[date], rates: list[Any]) -> _History:
    """Rows sorted by (currency, date) as per-currency arrays."""
    history: _History = {}
    start = 0
    for end in range(1, len(codes) + 1):
        if end == len(codes) or codes[end] != codes[start]:
            ordinals = np.array([(d - _EPOCH).days for d in days[start:end]], dtype=np.int32)
            history[codes[start]] = (ordinals, [Decimal(r) for r in rates[start:end]])
            start = end
    return history


def _merged(
    ecb: tuple[np.ndarray, list[Decimal]] | None, own: tuple[np.ndarray, list[Decimal]] | None
) -> tuple[np.ndarray | None, list[Decimal]]:
    """One currency's observations: the ECB's, the organization's winning a day."""
    if own is None:
        return (None, []) if ecb is None else ecb
    if ecb is None:
        return own
    by_day = dict(zip(ecb[0].tolist(), ecb[1], strict=True))
    by_day.update(zip(own[0].tolist(), own[1], strict=True))
    ordered = sorted(by_day)
    return np.array(ordered, dtype=np.int32), [by_day[d] for d in ordered]
