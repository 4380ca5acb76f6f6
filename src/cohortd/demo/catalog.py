"""Reference data the demo generator draws from: countries, currencies, plans, categories.

Every list here is ordered and fixed: the generator picks by index, so changing an entry
changes the output for a given seed (that is fine; the seed is a promise per version).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Shape(StrEnum):
    """Which population to draw: ``default`` (a US-centred SaaS, 10 currencies, 5 % billed
    abroad) or ``global-saas`` (about 60 % billed outside USD, 20 currencies, some
    customers billed in two currencies)."""

    default = "default"
    global_saas = "global-saas"


@dataclass(frozen=True, slots=True)
class Country:
    """A sign-up country: its billing currency, sales territories and legal-form suffixes."""

    code: str
    weight: float
    currency: str
    territories: tuple[str, ...]
    suffixes: tuple[str, ...]


COUNTRIES: Final[tuple[Country, ...]] = (
    Country("US", 34.0, "USD", ("NA-East", "NA-West", "NA-Central"), ("Inc", "LLC")),
    Country("CA", 5.0, "CAD", ("NA-North",), ("Inc", "Ltd")),
    Country("GB", 9.0, "GBP", ("UKI",), ("Ltd",)),
    Country("IE", 1.5, "EUR", ("UKI",), ("Ltd",)),
    Country("DE", 8.0, "EUR", ("DACH",), ("GmbH",)),
    Country("AT", 1.5, "EUR", ("DACH",), ("GmbH",)),
    Country("CH", 2.0, "CHF", ("DACH",), ("AG", "GmbH")),
    Country("FR", 5.5, "EUR", ("EMEA-West",), ("SAS",)),
    Country("NL", 3.5, "EUR", ("EMEA-West",), ("BV",)),
    Country("BE", 1.5, "EUR", ("EMEA-West",), ("BV", "SA")),
    Country("ES", 3.0, "EUR", ("EMEA-South",), ("SL",)),
    Country("IT", 3.0, "EUR", ("EMEA-South",), ("Srl",)),
    Country("SE", 2.5, "SEK", ("Nordics",), ("AB",)),
    Country("FI", 1.0, "EUR", ("Nordics",), ("Oy",)),
    Country("JP", 4.0, "JPY", ("Japan",), ("KK",)),
    Country("AU", 4.5, "AUD", ("ANZ",), ("Pty",)),
    Country("IN", 4.0, "INR", ("APAC",), ("Pvt Ltd",)),
    Country("BR", 3.0, "BRL", ("LATAM",), ("Ltda",)),
    # used by the global-saas shape only (weight 0 here: the default data is unchanged)
    Country("MX", 0.0, "MXN", ("LATAM",), ("SA de CV",)),
    Country("PL", 0.0, "PLN", ("EMEA-East",), ("Sp. z o.o.",)),
    Country("NO", 0.0, "NOK", ("Nordics",), ("AS",)),
    Country("DK", 0.0, "DKK", ("Nordics",), ("ApS",)),
    Country("CZ", 0.0, "CZK", ("EMEA-East",), ("s.r.o.",)),
    Country("ZA", 0.0, "ZAR", ("EMEA-South",), ("Pty",)),
    Country("SG", 0.0, "SGD", ("APAC",), ("Pte Ltd",)),
    Country("HK", 0.0, "HKD", ("APAC",), ("Ltd",)),
    Country("NZ", 0.0, "NZD", ("ANZ",), ("Ltd",)),
    Country("KR", 0.0, "KRW", ("APAC",), ("Co Ltd",)),
)

# The global-saas shape: a third of customers in the US, the rest spread over 27
# countries and 20 currencies; with 8 % of the others billed in USD, about 60 % of all
# customers are billed in a currency other than USD.
GLOBAL_COUNTRY_WEIGHTS: Final[tuple[float, ...]] = (
    34.0, 4.0, 7.0, 1.0, 6.0, 1.0, 2.0, 4.0, 2.5, 1.0, 2.5, 2.5, 2.0, 1.0, 4.0, 3.5, 3.5,
    3.0, 2.5, 2.0, 1.5, 1.5, 1.0, 1.5, 2.0, 1.5, 1.0, 2.5,
)  # fmt: skip
GLOBAL_FOREIGN_SHARE: Final = 0.08
GLOBAL_SECOND_CURRENCY_SHARE: Final = 0.5  # of add-ons of customers not billed in USD

# Billing currencies the generator uses, in a fixed order (indexes are stored per customer).
CURRENCIES: Final[tuple[str, ...]] = (
    "USD", "EUR", "GBP", "CAD", "CHF", "SEK", "JPY", "AUD", "INR", "BRL",
    "MXN", "PLN", "NOK", "DKK", "CZK", "ZAR", "SGD", "HKD", "NZD", "KRW",
)  # fmt: skip

# Rough USD value of one major unit, only to set local list prices (never used as FX).
USD_PER_UNIT: Final[dict[str, float]] = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CAD": 0.74, "CHF": 1.12,
    "SEK": 0.095, "JPY": 0.0068, "AUD": 0.66, "INR": 0.012, "BRL": 0.19,
    "MXN": 0.055, "PLN": 0.25, "NOK": 0.093, "DKK": 0.145, "CZK": 0.043, "ZAR": 0.054,
    "SGD": 0.74, "HKD": 0.128, "NZD": 0.6, "KRW": 0.00073,
}  # fmt: skip

# Customers billed in a currency other than their country's: USD mostly, else EUR.
FOREIGN_BILLING: Final[tuple[str, ...]] = ("USD", "USD", "EUR")


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan id and its monthly price band in USD; `addon` plans run beside a base plan."""

    id: str
    low_usd: float
    high_usd: float
    addon: bool = False


# Base plans in upgrade order: an expansion past `high_usd` moves to the next one.
PLANS: Final[tuple[Plan, ...]] = (
    Plan("starter", 19.0, 49.0),
    Plan("pro", 79.0, 249.0),
    Plan("business", 299.0, 1499.0),
    Plan("enterprise", 1500.0, 25000.0),
    Plan("addon_api", 29.0, 99.0, addon=True),
    Plan("addon_storage", 9.0, 39.0, addon=True),
    Plan("addon_seats", 40.0, 400.0, addon=True),
)
BASE_PLAN_COUNT: Final = 4
PLAN_IDS: Final[tuple[str, ...]] = tuple(plan.id for plan in PLANS)


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment with the company sizes it holds and its commercial behaviour."""

    name: str
    sizes: tuple[str, ...]
    size_weights: tuple[float, ...]
    plan_weights: tuple[float, float, float, float]  # starter, pro, business, enterprise
    lifetime_days: float  # Weibull scale of a paid life
    rep_share: float  # share of accounts with a sales rep (owner_id)
    addon_share: float  # share of paying accounts with a second, overlapping subscription
    pause_share: float  # share of change events that are pauses


SEGMENTS: Final[tuple[Segment, ...]] = (
    Segment("SMB", ("1-10", "11-50"), (0.42, 0.30), (0.62, 0.33, 0.05, 0.0), 900.0, 0.2, 0.07, 0.1),
    Segment("Mid-Market", ("51-200", "201-1000"), (0.16, 0.08), (0.1, 0.5, 0.35, 0.05),
            1400.0, 0.8, 0.15, 0.07),
    Segment("Enterprise", ("1001+",), (0.04,), (0.0, 0.1, 0.4, 0.5), 2200.0, 0.95, 0.2, 0.03),
)  # fmt: skip
SIZES: Final[tuple[str, ...]] = tuple(size for seg in SEGMENTS for size in seg.sizes)
SIZE_WEIGHTS: Final[tuple[float, ...]] = tuple(w for seg in SEGMENTS for w in seg.size_weights)
SIZE_SEGMENT: Final[tuple[int, ...]] = tuple(
    index for index, seg in enumerate(SEGMENTS) for _ in seg.sizes
)

INDUSTRIES: Final[tuple[str, ...]] = (
    "Software", "E-commerce", "Fintech", "Healthcare", "Manufacturing", "Agency",
    "Logistics", "Media", "Education", "Retail", "Nonprofit", "Real Estate",
)  # fmt: skip
INDUSTRY_WEIGHTS: Final[tuple[float, ...]] = (22, 15, 9, 8, 8, 7, 7, 6, 6, 6, 3, 3)

CHANNELS: Final[tuple[str, ...]] = (
    "organic", "paid_search", "paid_social", "referral", "content", "partner", "outbound",
)  # fmt: skip
# Per segment: small accounts find us, large ones are sold to.
CHANNEL_WEIGHTS: Final[tuple[tuple[float, ...], ...]] = (
    (26, 22, 13, 13, 12, 9, 5),
    (15, 14, 8, 14, 9, 17, 23),
    (6, 5, 2, 12, 5, 25, 45),
)

# Reps are numbered per territory, so each rep covers one territory.
TERRITORY_REPS: Final[dict[str, int]] = {
    "NA-East": 14, "NA-West": 12, "NA-Central": 10, "NA-North": 6, "UKI": 10, "DACH": 10,
    "EMEA-West": 9, "EMEA-South": 6, "Nordics": 5, "Japan": 5, "ANZ": 5, "APAC": 5, "LATAM": 4,
    "EMEA-East": 4,
}  # fmt: skip
TERRITORIES: Final[tuple[str, ...]] = tuple(TERRITORY_REPS)

TAGS: Final[tuple[str, ...]] = (
    "beta", "sso", "annual_prepay", "integration_slack", "integration_hubspot", "partner",
    "nps_promoter", "nps_detractor", "at_risk", "champion", "migrated",
)  # fmt: skip

NAME_ADJECTIVES: Final[tuple[str, ...]] = (
    "Bright", "Bold", "Clear", "Prime", "North", "Green", "Blue", "Swift", "Silver", "Quiet",
    "Iron", "Golden", "Red", "Rapid", "Lunar", "Urban", "Nova", "Solar", "True", "Wild",
)  # fmt: skip
NAME_NOUNS: Final[tuple[str, ...]] = (
    "Cloud", "Wave", "Lake", "Atlas", "Maple", "Field", "River", "Fox", "Signal", "Orbit",
    "Harbor", "Forge", "Stone", "Pixel", "Peak", "Leaf", "Vertex", "Bridge", "Cedar", "Comet",
)  # fmt: skip
GENERIC_SUFFIXES: Final[tuple[str, ...]] = ("Labs", "Systems", "Studio", "Co", "Group", "Works")
EMAIL_MAILBOXES: Final[tuple[str, ...]] = ("billing", "finance", "admin", "ops", "accounts")
UTM_SOURCES: Final[tuple[str, ...]] = (
    "google", "linkedin", "g2", "capterra", "webinar", "newsletter", "producthunt",
)  # fmt: skip

# Sign-up seasonality by calendar month: January and September peaks, a December dip.
MONTH_SEASONALITY: Final[tuple[float, ...]] = (
    1.3, 1.05, 1.05, 1.0, 0.95, 0.9, 0.8, 0.85, 1.25, 1.1, 1.0, 0.65,
)  # fmt: skip
YEARLY_GROWTH: Final = 1.45  # sign-ups grow 45% a year
WEEKEND_WEIGHT: Final = 0.45  # a Saturday or Sunday sees 45% of a weekday's sign-ups
