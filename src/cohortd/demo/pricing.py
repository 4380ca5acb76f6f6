"""Local list prices in integer minor units, and the price changes of expansions/contractions."""

from __future__ import annotations

import numpy as np

from cohortd.demo.catalog import BASE_PLAN_COUNT, CURRENCIES, PLANS, USD_PER_UNIT
from cohortd.engine.money import exponent

_MINOR_PER_MAJOR = np.array([10 ** exponent(code) for code in CURRENCIES], dtype=np.int64)
_USD_PER_UNIT = np.array([USD_PER_UNIT[code] for code in CURRENCIES])
_LOW_USD = np.array([plan.low_usd for plan in PLANS])
_HIGH_USD = np.array([plan.high_usd for plan in PLANS])
DISCOUNTS = np.array([0.10, 0.15, 0.20])


def nice_amount(minor: np.ndarray) -> np.ndarray:
    """Round to two significant digits (29.00, 2900 JPY, 1 400.00), never below one step."""
    positive = np.maximum(minor, 1.0)
    step = nice_step(positive)
    rounded: np.ndarray = np.maximum(step, np.rint(positive / step).astype(np.int64) * step)
    return rounded


def usd_value(minor: np.ndarray, currency: np.ndarray) -> np.ndarray:
    """Approximate USD value of minor units, only to keep plans inside their price bands."""
    value: np.ndarray = minor / _MINOR_PER_MAJOR[currency] * _USD_PER_UNIT[currency]
    return value


def list_price(rng: np.random.Generator, plan: np.ndarray, currency: np.ndarray) -> np.ndarray:
    """A monthly price inside the plan's band, in the currency's minor units.

    Prices lean to the bottom of the band (u**1.6), as most accounts buy few seats.
    """
    low, high = _LOW_USD[plan], _HIGH_USD[plan]
    usd = low * (high / low) ** (rng.random(plan.size) ** 1.6)
    minor = usd / _USD_PER_UNIT[currency] * _MINOR_PER_MAJOR[currency]
    price = nice_amount(minor)
    # One account in seven negotiated a discount: odd amounts such as 26.10 exist.
    discounted = rng.random(plan.size) < 0.14
    factor = 1.0 - DISCOUNTS[rng.integers(0, DISCOUNTS.size, plan.size)]
    return np.where(discounted, np.rint(price * factor).astype(np.int64), price)


def expand(
    rng: np.random.Generator, mrr: np.ndarray, plan: np.ndarray, currency: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A price increase of 5-40%; past the plan's band the account moves one plan up."""
    grown = nice_amount(mrr * rng.uniform(1.05, 1.4, mrr.size))
    grown = np.where(grown <= mrr, mrr + nice_step(mrr), grown)
    above = (usd_value(grown, currency) > _HIGH_USD[plan]) & (plan < BASE_PLAN_COUNT - 1)
    return grown, np.where(above, plan + 1, plan)


def contract(
    rng: np.random.Generator, mrr: np.ndarray, plan: np.ndarray, currency: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A price cut of 5-35%; into the band below, the account moves one plan down."""
    shrunk = nice_amount(mrr * rng.uniform(0.65, 0.95, mrr.size))
    shrunk = np.where(shrunk >= mrr, mrr - nice_step(mrr), shrunk)
    shrunk = np.maximum(shrunk, 1)
    usd = usd_value(shrunk, currency)
    # Only a price that fits the lower plan's band is a downgrade; else it is a discount.
    below = (usd < _LOW_USD[plan]) & (usd <= _HIGH_USD[plan - 1])
    return shrunk, np.where(below & (plan > 0) & (plan < BASE_PLAN_COUNT), plan - 1, plan)


def nice_step(minor: np.ndarray) -> np.ndarray:
    """The rounding step `nice_amount` uses at this magnitude."""
    positive = np.maximum(minor, 1)
    digits = np.maximum(0, np.floor(np.log10(positive)) - 1).astype(np.int64)
    step: np.ndarray = 10**digits
    return step
