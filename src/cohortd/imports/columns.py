"""What each import file may contain: its columns, their kinds and which are required."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cohortd.warehouse.tables import CUSTOMERS, FX_RATES, SUBSCRIPTIONS


class ImportKind(StrEnum):
    """The three files an import takes; the value is the multipart / CLI field name."""

    customers = "customers"
    subscriptions = "subscriptions"
    exchange_rates = "exchange_rates"


class CellKind(StrEnum):
    """How a cell is parsed and checked (see ``validation``)."""

    key = "key"  # trimmed, required non-empty, at most 255 characters
    text = "text"  # stored as given (formulas included); empty means absent
    email = "email"
    country = "country"
    currency = "currency"  # a billing currency (active ISO 4217, or an ECB retired series)
    rate_currency = "rate_currency"  # any ISO 4217 code, historic ones included
    customer_status = "customer_status"
    subscription_status = "subscription_status"
    tags = "tags"
    unit_score = "unit_score"  # 0.0 - 1.0
    percent_score = "percent_score"  # 0 - 100
    timestamp = "timestamp"
    date = "date"
    json_object = "json_object"
    money = "money"  # major units, exact, checked against the row's currency
    rate = "rate"  # positive decimal


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    kind: CellKind
    required: bool = False


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One import kind: its columns, the warehouse table it fills and its upsert key."""

    kind: ImportKind
    table: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


CUSTOMER_STATUSES: Final = ("active", "trialing", "paused", "cancelled", "lapsed")
# Subscription rows use the same vocabulary: SPEC §1 derives customer status from them.
SUBSCRIPTION_STATUSES: Final = CUSTOMER_STATUSES

_TEXT = CellKind.text

SPECS: Final[dict[ImportKind, KindSpec]] = {
    ImportKind.customers: KindSpec(
        ImportKind.customers,
        CUSTOMERS,
        (
            ColumnSpec("id", CellKind.key, required=True),
            ColumnSpec("name", _TEXT),
            ColumnSpec("email", CellKind.email),
            ColumnSpec("country", CellKind.country),
            ColumnSpec("currency", CellKind.currency),
            ColumnSpec("industry", _TEXT),
            ColumnSpec("channel", _TEXT),
            ColumnSpec("size", _TEXT),
            ColumnSpec("segment", _TEXT),
            ColumnSpec("territory", _TEXT),
            ColumnSpec("owner_id", _TEXT),
            ColumnSpec("status", CellKind.customer_status),
            ColumnSpec("plan_id", _TEXT),
            ColumnSpec("tags", CellKind.tags),
            ColumnSpec("engagement_score", CellKind.unit_score),
            ColumnSpec("health_score", CellKind.percent_score),
            ColumnSpec("risk_score", CellKind.percent_score),
            ColumnSpec("created_at", CellKind.timestamp, required=True),
            ColumnSpec("metadata", CellKind.json_object),
        ),
        ("id",),
    ),
    ImportKind.subscriptions: KindSpec(
        ImportKind.subscriptions,
        SUBSCRIPTIONS,
        (
            ColumnSpec("id", CellKind.key, required=True),
            ColumnSpec("customer_id", CellKind.key, required=True),
            ColumnSpec("plan_id", _TEXT),
            ColumnSpec("currency", CellKind.currency, required=True),
            ColumnSpec("mrr", CellKind.money, required=True),
            ColumnSpec("start_date", CellKind.date, required=True),
            ColumnSpec("end_date", CellKind.date),
            ColumnSpec("status", CellKind.subscription_status),
        ),
        ("id",),
    ),
    ImportKind.exchange_rates: KindSpec(
        ImportKind.exchange_rates,
        FX_RATES,
        (
            ColumnSpec("date", CellKind.date, required=True),
            ColumnSpec("currency", CellKind.rate_currency, required=True),
            ColumnSpec("rate", CellKind.rate, required=True),
        ),
        ("date", "currency"),
    ),
}
