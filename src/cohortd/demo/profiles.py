"""Who the customers are: country, currency, firmographics, reps, scores and tags.

Everything is an index into the `catalog` tuples (numpy arrays), turned into strings only
by `layout`. Scores share a latent churn propensity with the lifecycle simulation, so
engagement, health and risk really do predict churn in the generated data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortd.demo import catalog
from cohortd.demo.lifecycle import RowStatus
from cohortd.demo.today import NONE, CurrentState

_COUNTRY_WEIGHTS = np.array([country.weight for country in catalog.COUNTRIES])
_COUNTRY_CURRENCY = np.array(
    [catalog.CURRENCIES.index(country.currency) for country in catalog.COUNTRIES]
)
_USD = catalog.CURRENCIES.index("USD")
_FOREIGN_CURRENCY = np.array([catalog.CURRENCIES.index(code) for code in catalog.FOREIGN_BILLING])
SUFFIXES: tuple[str, ...] = catalog.GENERIC_SUFFIXES + tuple(
    dict.fromkeys(suffix for country in catalog.COUNTRIES for suffix in country.suffixes)
)


def _padded(choices: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-country choices as a padded matrix plus the row lengths."""
    width = max(len(row) for row in choices)
    matrix = np.array([row + [row[0]] * (width - len(row)) for row in choices])
    return matrix, np.array([len(row) for row in choices])


_COUNTRY_TERRITORIES = _padded(
    [[catalog.TERRITORIES.index(t) for t in country.territories] for country in catalog.COUNTRIES]
)
_COUNTRY_SUFFIXES = _padded(
    [[SUFFIXES.index(s) for s in country.suffixes] for country in catalog.COUNTRIES]
)
_REP_COUNT = np.array(list(catalog.TERRITORY_REPS.values()))
_REP_OFFSET = np.concatenate([[0], np.cumsum(_REP_COUNT)[:-1]])
_REP_SHARE = np.array([segment.rep_share for segment in catalog.SEGMENTS])
_CHANNEL_CUMULATIVE = np.cumsum(np.array(catalog.CHANNEL_WEIGHTS, dtype=float), axis=1)
_CHANNEL_CUMULATIVE /= _CHANNEL_CUMULATIVE[:, -1:]


@dataclass(frozen=True, slots=True)
class Profiles:
    """Customer attributes of one chunk; NONE (-1) in an index array = field left empty."""

    country: np.ndarray  # index into COUNTRIES, always known (drives the rest)
    country_given: np.ndarray  # bool: the country column is filled
    currency: np.ndarray  # index into CURRENCIES: the billing currency of every row
    currency_given: np.ndarray
    size: np.ndarray
    segment: np.ndarray  # always known (drives the lifecycle)
    segment_given: np.ndarray
    industry: np.ndarray
    channel: np.ndarray
    territory: np.ndarray
    rep: np.ndarray  # rep number 1.., NONE without a rep
    propensity: np.ndarray
    engagement: np.ndarray  # thousandths 0..1000, NONE when missing
    name_parts: np.ndarray  # (n, 3): adjective, noun, suffix indexes
    mailbox: np.ndarray
    crm_number: np.ndarray  # NONE = no metadata
    utm_source: np.ndarray
    second_currency: np.ndarray  # add-ons billed in USD (global-saas only)


def _pick(rng: np.random.Generator, weights: tuple[float, ...] | np.ndarray, n: int) -> np.ndarray:
    probabilities = np.asarray(weights, dtype=float)
    return rng.choice(probabilities.size, size=n, p=probabilities / probabilities.sum())


def _blank(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    """Leave `share` of a field empty, as real exports do."""
    return np.where(rng.random(values.size) < share, NONE, values)


def _from_padded(
    rng: np.random.Generator, padded: tuple[np.ndarray, np.ndarray], country: np.ndarray
) -> np.ndarray:
    matrix, lengths = padded
    picked: np.ndarray = matrix[country, rng.integers(0, lengths[country])]
    return picked


def draw_profiles(
    rng: np.random.Generator, n: int, shape: catalog.Shape = catalog.Shape.default
) -> Profiles:
    """Draw the attributes of `n` customers (the default shape draws exactly what it drew
    before the other shapes existed: same seed, same data)."""
    is_global = shape is catalog.Shape.global_saas
    country = _pick(rng, catalog.GLOBAL_COUNTRY_WEIGHTS if is_global else _COUNTRY_WEIGHTS, n)
    foreign = rng.random(n) < (catalog.GLOBAL_FOREIGN_SHARE if is_global else 0.05)
    currency = np.where(
        foreign,
        _FOREIGN_CURRENCY[rng.integers(0, _FOREIGN_CURRENCY.size, n)],
        _COUNTRY_CURRENCY[country],
    )
    size = _pick(rng, catalog.SIZE_WEIGHTS, n)
    segment = np.array(catalog.SIZE_SEGMENT)[size]
    channel = (rng.random((n, 1)) > _CHANNEL_CUMULATIVE[segment]).sum(axis=1)
    territory = _from_padded(rng, _COUNTRY_TERRITORIES, country)
    has_rep = rng.random(n) < _REP_SHARE[segment]
    rep = np.where(
        has_rep, _REP_OFFSET[territory] + rng.integers(0, _REP_COUNT[territory]) + 1, NONE
    )
    propensity = rng.standard_normal(n)
    engagement = 1 / (1 + np.exp(0.9 * propensity - 0.6 * rng.standard_normal(n) - 0.2))
    generic = rng.random(n) < 0.5
    suffix = np.where(
        generic,
        rng.integers(0, len(catalog.GENERIC_SUFFIXES), n),
        _from_padded(rng, _COUNTRY_SUFFIXES, country),
    )
    name_parts = np.stack(
        [
            rng.integers(0, len(catalog.NAME_ADJECTIVES), n),
            rng.integers(0, len(catalog.NAME_NOUNS), n),
            suffix,
        ],
        axis=1,
    )
    with_metadata = rng.random(n) < 0.4
    return Profiles(
        country=country,
        country_given=rng.random(n) >= 0.02,
        currency=currency,
        currency_given=rng.random(n) >= 0.03,
        size=_blank(rng, size, 0.03),
        segment=segment,
        segment_given=rng.random(n) >= 0.02,
        industry=_blank(rng, _pick(rng, catalog.INDUSTRY_WEIGHTS, n), 0.04),
        channel=_blank(rng, channel, 0.04),
        territory=_blank(rng, territory, 0.02),
        rep=rep,
        propensity=propensity,
        engagement=_blank(rng, np.rint(engagement * 1000).astype(np.int64), 0.05),
        name_parts=name_parts,
        mailbox=rng.integers(0, len(catalog.EMAIL_MAILBOXES), n),
        crm_number=np.where(with_metadata, rng.integers(100_000, 1_000_000, n), NONE),
        utm_source=rng.integers(0, len(catalog.UTM_SOURCES), n),
        # drawn last and only for global-saas, so the default shape's draws stay as they were
        second_currency=(
            (rng.random(n) < catalog.GLOBAL_SECOND_CURRENCY_SHARE) & (currency != _USD)
            if is_global
            else np.zeros(n, dtype=bool)
        ),
    )


@dataclass(frozen=True, slots=True)
class Scores:
    """Today's scores and tags, and which derived values the file states."""

    health: np.ndarray  # 0..100, NONE when missing (risk missing with it)
    risk: np.ndarray
    tags: np.ndarray  # bit i set = TAGS[i]
    status: np.ndarray  # RowStatus code written to the file, NONE = left for derivation
    plan: np.ndarray  # plan index written to the file, NONE = left for derivation


def draw_scores(rng: np.random.Generator, profiles: Profiles, today: CurrentState) -> Scores:
    """Health and risk from the churn propensity and today's status; tags that fit them."""
    n = profiles.propensity.size
    gone = np.isin(today.status, [RowStatus.cancelled, RowStatus.lapsed])
    health = 100 / (1 + np.exp(1.0 * profiles.propensity - 0.5 * rng.standard_normal(n) - 0.4))
    health = health - np.where(gone, 18, 0) - np.where(today.status == RowStatus.paused, 8, 0)
    health = np.clip(np.rint(health), 0, 100).astype(np.int64)
    risk = np.clip(np.rint(100 - health + rng.normal(0, 8, n)), 0, 100).astype(np.int64)
    missing = rng.random(n) < 0.15
    return Scores(
        health=np.where(missing, NONE, health),
        risk=np.where(missing, NONE, risk),
        tags=_tags(rng, profiles, health, risk),
        status=np.where(rng.random(n) < 0.75, today.status, NONE),
        plan=np.where(rng.random(n) < 0.6, today.plan, NONE),
    )


def _tags(
    rng: np.random.Generator, profiles: Profiles, health: np.ndarray, risk: np.ndarray
) -> np.ndarray:
    """A bit mask of TAGS; the score-related tags follow the scores."""
    n = health.size
    engaged = profiles.engagement >= 750
    enterprise = profiles.segment == 2
    partner = profiles.channel == catalog.CHANNELS.index("partner")
    share = {
        "beta": np.full(n, 0.1),
        "sso": np.where(enterprise, 0.6, 0.03),
        "annual_prepay": np.full(n, 0.12),
        "integration_slack": np.full(n, 0.25),
        "integration_hubspot": np.full(n, 0.15),
        "partner": np.where(partner, 0.7, 0.02),
        "nps_promoter": np.where(health > 70, 0.3, 0.02),
        "nps_detractor": np.where(health < 35, 0.3, 0.02),
        "at_risk": np.where(risk > 70, 0.5, 0.01),
        "champion": np.where(engaged, 0.3, 0.02),
        "migrated": np.full(n, 0.06),
    }
    mask = np.zeros(n, dtype=np.int64)
    for bit, tag in enumerate(catalog.TAGS):
        mask |= (rng.random(n) < share[tag]).astype(np.int64) << bit
    return mask
