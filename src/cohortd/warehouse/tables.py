"""Canonical data-plane tables. Every row carries ``org_id`` and ``livemode``.

Money is integer minor units (``mrr_minor``); exchange rates are exact decimals.
Bump ``SCHEMA_VERSION`` and add a step to ``warehouse.migrations`` when a table changes.
"""

from __future__ import annotations

from typing import Final

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.schema import Schema

# 2: the derived tables (engine.derived); 3: their period numbers; 4: cohort_deltas;
# 5: cohort_deltas' ABOVE rows; 6: cohort_deltas' monthly movements, several_pairs
SCHEMA_VERSION: Final = 6

RATE_TYPE: Final = dt.Decimal(precision=24, scale=10)

CUSTOMERS: Final = "customers"
SUBSCRIPTIONS: Final = "subscriptions"
FX_RATES: Final = "fx_rates"  # the organizations' own rates (per org and mode)
FX_ECB: Final = "fx_ecb"  # the shipped ECB reference history, shared by every organization
# derived from customers + subscriptions by ``engine.derived`` at every write
CUSTOMER_FACTS: Final = "customer_facts"
PAID_SPELLS: Final = "paid_spells"
MRR_SEGMENTS: Final = "mrr_segments"
# the months members billed in several currencies moved in, per currency (engine.monthly)
SEVERAL_PAIRS: Final = "several_pairs"
COHORT_DELTAS: Final = "cohort_deltas"  # per scope, not per customer: aggregated changes
DERIVED_TABLES: Final = (CUSTOMER_FACTS, PAID_SPELLS, MRR_SEGMENTS, SEVERAL_PAIRS, COHORT_DELTAS)
# the customers whose derived rows wait for ``engine.derived.catch_up`` (a null
# ``customer_id``: the whole scope); a table added later needs no version: ``ensure_schema``
# creates a missing table on start, and an empty one means nothing waits
DERIVED_PENDING: Final = "derived_pending"
# one token per scope, replaced by every committed write to the scope (``org_id`` empty:
# a write to no one scope, which every scope's answers depend on): the answer cache's
# data version (``api.cache``); created on start like ``derived_pending``
DATA_VERSIONS: Final = "cohortd_data_versions"
GLOBAL_ORG: Final = ""
# events recorded with the data they describe (the import's merge transaction), waiting
# to be copied into the control plane's event log (``events.outbox.relay``); like
# ``derived_pending`` it needs no version: ``ensure_schema`` creates it when missing
EVENT_OUTBOX: Final = "event_outbox"

CUSTOMER_CATEGORY_FIELDS: Final = (
    "industry",
    "channel",
    "size",
    "segment",
    "territory",
    "owner_id",
)

# the week and month numbers of a spell's or segment's days (engine.periods.stored_period)
_PERIOD_NUMBERS: Final = {
    "week0": "!int32",
    "month0": "!int32",
    "week_start": "!int32",
    "month_start": "!int32",
    "week_end": "int32",
    "month_end": "int32",
}

SCHEMAS: Final[dict[str, Schema]] = {
    CUSTOMERS: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "id": "!string",
            "name": "string",
            "email": "string",
            "email_hashed": "string",
            "country": "string",
            "currency": "string",
            "industry": "string",
            "channel": "string",
            "size": "string",
            "segment": "string",
            "territory": "string",
            "owner_id": "string",
            "status": "string",
            "plan_id": "string",
            "tags": "array<string>",
            "engagement_score": "float64",
            "health_score": "float64",
            "risk_score": "float64",
            "created_at": "!timestamp",
            "metadata": "string",
        }
    ),
    SUBSCRIPTIONS: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "id": "!string",
            "customer_id": "!string",
            "plan_id": "string",
            "currency": "!string",
            "mrr_minor": "!int64",
            "start_date": "!date",
            "end_date": "date",
            "status": "string",
        }
    ),
    FX_RATES: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "date": "!date",
            "currency": "!string",
            "rate": RATE_TYPE.copy(nullable=False),
        }
    ),
    FX_ECB: ibis.schema(
        {"date": "!date", "currency": "!string", "rate": RATE_TYPE.copy(nullable=False)}
    ),
    CUSTOMER_FACTS: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "customer_id": "!string",
            "paid_started_at": "date",
            "currency": "string",  # billing currency
            "country": "string",  # upper-cased
            "pay_currency": "string",  # the one currency of its paying rows, else null
            "initial_minor": "int64",  # MRR on paid_started_at when pay_currency is set
            "pay_currencies": "!int64",
            "week0": "int32",  # period numbers of paid_started_at (engine.periods)
            "month0": "int32",
        }
    ),
    PAID_SPELLS: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "customer_id": "!string",
            "paid_started_at": "!date",
            "currency": "string",
            "country": "string",
            "start_date": "!date",
            "end_date": "date",
            **_PERIOD_NUMBERS,
        }
    ),
    MRR_SEGMENTS: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "customer_id": "!string",
            "paid_started_at": "!date",
            "billing_currency": "string",
            "country": "string",
            "pay_currency": "string",
            "initial_minor": "int64",
            "currency": "!string",
            "start_date": "!date",
            "end_date": "date",
            "level_minor": "!int64",
            **_PERIOD_NUMBERS,
        }
    ),
    SEVERAL_PAIRS: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "customer_id": "!string",
            "paid_started_at": "!date",
            "p": "!int32",  # the month (``engine.periods`` number) the member moved in
            "currency": "!string",
            "s": "!int64",  # MRR in ``currency`` on the month before's last day, minor units
            "e": "!int64",  # on the month's last day
        }
    ),
    DERIVED_PENDING: ibis.schema(
        {"org_id": "!string", "livemode": "!boolean", "customer_id": "string"}
    ),
    EVENT_OUTBOX: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "id": "!string",  # the event id, fixed here: a relay re-run never duplicates
            "source": "!string",  # the import job
            "type": "!string",
            "created_at": "!timestamp",
            "payload": "!string",  # JSON: subscriber, subscription, data
        }
    ),
    COHORT_DELTAS: ibis.schema(
        {
            "org_id": "!string",
            "livemode": "!boolean",
            "unit": "!int8",  # engine.cohort_deltas.UNIT_WEEK / UNIT_MONTH
            "kind": "!int8",  # engine.cohort_deltas.COUNT / … / ABOVE / MOVES
            "p0": "!int32",  # the members' cohort period (week or month number)
            "currency": "string",  # null for COUNT
            "ps": "date",  # the members' paid start: TRACK, ABOVE and INITIAL only
            "p": "!int32",  # the period the change takes effect in
            "n": "!int64",  # paying members (COUNT), moved members (MOVES)
            "v": "!int64",  # MRR levels, minor units (MONEY; INITIAL: the initial MRR; MOVES: s)
            "m": "!int64",  # min(level, initial) of one-currency members (MONEY; MOVES: e)
            "t": "!int64",  # the initial of segments at (TRACK) or above (ABOVE) it
        }
    ),
    DATA_VERSIONS: ibis.schema({"org_id": "!string", "livemode": "!boolean", "version": "!string"}),
}


# Storage hints for DuckDB (``USING COMPRESSION``), for the tables an import writes in
# bulk: DuckDB otherwise tries every method on every column of every segment, and that
# trial is about a third of the write (measured: 5.1 vs 7.9 CPU seconds for 5M
# subscription rows, the same size on disk). Codes and categories get a dictionary,
# ids and free text FSST, integers and days bit packing; a value that does not suit its
# method is stored uncompressed (tested: unique, huge, empty, null, non-ASCII strings).
# A table made before a hint was added keeps its old storage (same data, slower
# writes): docs/import.md.
_CATEGORY: Final = "dictionary"
_TEXT: Final = "fsst"
_NUMBER: Final = "bitpacking"
COMPRESSION: Final[dict[str, dict[str, str]]] = {
    CUSTOMERS: {
        "org_id": _CATEGORY,
        "id": _TEXT,
        "name": _TEXT,
        "email": _TEXT,
        "email_hashed": _TEXT,
        "country": _CATEGORY,
        "currency": _CATEGORY,
        **dict.fromkeys(CUSTOMER_CATEGORY_FIELDS, _CATEGORY),
        "status": _CATEGORY,
        "plan_id": _CATEGORY,
        "created_at": _NUMBER,
        "metadata": _TEXT,
    },
    SUBSCRIPTIONS: {
        "org_id": _CATEGORY,
        "id": _TEXT,
        "customer_id": _TEXT,
        "plan_id": _CATEGORY,
        "currency": _CATEGORY,
        "mrr_minor": _NUMBER,
        "start_date": _NUMBER,
        "end_date": _NUMBER,
        "status": _CATEGORY,
    },
}
