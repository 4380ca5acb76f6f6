"""The import file layout: Arrow tables of strings, and their exact CSV bytes.

Columns and spellings follow `examples/small/` (SPEC §6 import): strings as written in
the files, an empty field is null. CSV quoting is minimal (only fields holding a comma,
quote or line break are quoted, quotes doubled), lines end in LF: byte-identical output
for identical input, fast because every step is a vectorised Arrow kernel.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cohortd.demo import catalog
from cohortd.demo.lifecycle import RowStatus, Stretches
from cohortd.demo.pricing import nice_amount, usd_value
from cohortd.demo.profiles import SUFFIXES, Profiles, Scores
from cohortd.demo.today import NONE
from cohortd.engine.money import exponent

# The headers of examples/small/customers.csv and subscriptions.csv, in their order.
CUSTOMER_COLUMNS: Final = tuple(
    """id name email country currency industry channel size segment territory owner_id status
    plan_id tags engagement_score health_score risk_score created_at metadata""".split()
)
SUBSCRIPTION_COLUMNS: Final = tuple(
    "id customer_id plan_id currency mrr start_date end_date status".split()
)
CUSTOMER_SCHEMA: Final = pa.schema([(name, pa.string()) for name in CUSTOMER_COLUMNS])
SUBSCRIPTION_SCHEMA: Final = pa.schema([(name, pa.string()) for name in SUBSCRIPTION_COLUMNS])
CUSTOMER_ID_DIGITS: Final = 7
SUBSCRIPTION_ID_DIGITS: Final = 9

_ADDON = np.array([plan.addon for plan in catalog.PLANS])
_COUNTRY_CODES = tuple(country.code for country in catalog.COUNTRIES)
_SEGMENT_NAMES = tuple(segment.name for segment in catalog.SEGMENTS)
_STATUSES = pa.array([status.name for status in RowStatus])
_TAG_LISTS = pa.array(
    [
        ";".join(tag for bit, tag in enumerate(catalog.TAGS) if mask >> bit & 1) or None
        for mask in range(1 << len(catalog.TAGS))
    ]
)
# 0.152, 0.19, 1.0: the shortest decimal of a score kept to three places.
_THOUSANDTHS = pa.array([str(k / 1000) for k in range(1001)])
_EXPONENTS = np.array([exponent(code) for code in catalog.CURRENCIES])


def _labels(values: tuple[str, ...] | pa.Array, index: np.ndarray) -> pa.Array:
    """values[index], null where index is NONE."""
    table = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    return table.take(pa.array(index, mask=index == NONE, type=pa.int64()))


def _concat(*parts: pa.Array | str) -> pa.Array:
    # binary_join_element_wise takes the separator last; any null part makes the result null.
    return pc.binary_join_element_wise(*parts, "")


def _number(values: np.ndarray, digits: int = 0) -> pa.Array:
    text = pc.cast(pa.array(values, mask=values == NONE, type=pa.int64()), pa.string())
    return pc.utf8_lpad(text, width=digits, padding="0") if digits else text


def customer_ids(numbers: np.ndarray) -> pa.Array:
    """cus_0000042 for customer number 42."""
    return _concat("cus_", _number(numbers, CUSTOMER_ID_DIGITS))


def customer_table(
    profiles: Profiles, scores: Scores, *, numbers: np.ndarray, signup_seconds: np.ndarray
) -> pa.Table:
    """One chunk of customers.csv."""
    adjective = _labels(catalog.NAME_ADJECTIVES, profiles.name_parts[:, 0])
    noun = _labels(catalog.NAME_NOUNS, profiles.name_parts[:, 1])
    slug = pc.utf8_lower(_concat(adjective, noun))
    email = _concat(
        _labels(catalog.EMAIL_MAILBOXES, profiles.mailbox),
        "@",
        slug,
        "-",
        _number(numbers),
        ".example",
    )
    rep = _concat("rep_", _number(profiles.rep, 3))
    created = pc.strftime(pa.array(signup_seconds, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%SZ")
    metadata = _concat(
        '{"crm_id":"CRM',
        _number(profiles.crm_number),
        '","utm_source":"',
        _labels(catalog.UTM_SOURCES, profiles.utm_source),
        '"}',
    )
    columns = [
        customer_ids(numbers),
        _concat(adjective, " ", noun, " ", _labels(SUFFIXES, profiles.name_parts[:, 2])),
        email,
        _labels(_COUNTRY_CODES, _given(profiles.country, profiles.country_given)),
        _labels(catalog.CURRENCIES, _given(profiles.currency, profiles.currency_given)),
        _labels(catalog.INDUSTRIES, profiles.industry),
        _labels(catalog.CHANNELS, profiles.channel),
        _labels(catalog.SIZES, profiles.size),
        _labels(_SEGMENT_NAMES, _given(profiles.segment, profiles.segment_given)),
        _labels(catalog.TERRITORIES, profiles.territory),
        rep,
        _labels(_STATUSES, scores.status),
        _labels(catalog.PLAN_IDS, scores.plan),
        _TAG_LISTS.take(pa.array(scores.tags)),
        _labels(_THOUSANDTHS, profiles.engagement),
        _number(scores.health),
        _number(scores.risk),
        created,
        metadata,
    ]
    return pa.Table.from_arrays(columns, schema=CUSTOMER_SCHEMA)


def _given(values: np.ndarray, given: np.ndarray) -> np.ndarray:
    return np.where(given, values, NONE)


def money_text(mrr: np.ndarray, currency: np.ndarray) -> pa.Array:
    """Minor units as a major-unit decimal with exactly the currency's exponent digits."""
    digits = _EXPONENTS[currency]
    result = pc.cast(pa.array(mrr, pa.int64()), pa.string())  # exponent 0: as is
    for exponent_digits in np.unique(digits[digits > 0]):
        scale = 10 ** int(exponent_digits)
        whole = pc.cast(pa.array(mrr // scale, pa.int64()), pa.string())
        fraction = pc.utf8_lpad(
            pc.cast(pa.array(mrr % scale), pa.string()), int(exponent_digits), "0"
        )
        result = pc.if_else(
            pa.array(digits == exponent_digits), _concat(whole, ".", fraction), result
        )
    return result


def _dates(days: np.ndarray) -> pa.Array:
    day_numbers = pa.array(days.astype(np.int32), mask=days < 0, type=pa.int32())
    return pc.cast(day_numbers.cast(pa.date32()), pa.string())


def subscription_table(
    rows: Stretches,
    *,
    customer_id: pa.Array,
    currency: np.ndarray,
    first_number: int,
    second_currency: np.ndarray | None = None,
) -> pa.Table:
    """One chunk of subscriptions.csv; ids numbered from `first_number` in row order.

    ``second_currency`` (per customer) bills that customer's add-on rows in USD, their
    price converted at the catalog's rough rate: a customer with two currencies."""
    numbers = np.arange(first_number, first_number + rows.customer.size, dtype=np.int64)
    row_currency = currency[rows.customer]
    if second_currency is not None and second_currency.any():
        in_usd = second_currency[rows.customer] & _ADDON[rows.plan.astype(np.int64)]
        usd = catalog.CURRENCIES.index("USD")
        cents = np.rint(usd_value(rows.mrr[in_usd], row_currency[in_usd]) * 100).astype(np.int64)
        mrr = rows.mrr.copy()
        mrr[in_usd] = np.where(rows.mrr[in_usd] > 0, nice_amount(cents), 0)
        rows = replace(rows, mrr=mrr)
        row_currency = np.where(in_usd, usd, row_currency)
    columns = [
        _concat("sub_", _number(numbers, SUBSCRIPTION_ID_DIGITS)),
        customer_id.take(pa.array(rows.customer)),
        _labels(catalog.PLAN_IDS, rows.plan.astype(np.int64)),
        _labels(catalog.CURRENCIES, row_currency),
        money_text(rows.mrr, row_currency),
        _dates(rows.start),
        _dates(rows.end),
        _labels(_STATUSES, rows.status.astype(np.int64)),
    ]
    return pa.Table.from_arrays(columns, schema=SUBSCRIPTION_SCHEMA)


def csv_bytes(table: pa.Table, *, header: bool) -> bytes:
    """The table as minimal-quoting CSV with LF line ends (what Python's csv module writes)."""
    head = (",".join(table.column_names) + "\n").encode() if header else b""
    if table.num_rows == 0:
        return head
    fields = []
    for column in table.itercolumns():
        text = pc.fill_null(column.combine_chunks(), "")
        needs_quotes = pc.match_substring_regex(text, r'[",\r\n]')
        quoted = _concat('"', pc.replace_substring(text, '"', '""'), '"')
        fields.append(pc.if_else(needs_quotes, quoted, text))
    lines = _concat(pc.binary_join_element_wise(*fields, ","), "\n")
    # A string array stores its values back to back: that data buffer is the file body.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    body: bytes = lines.buffers()[2].to_pybytes()[first:last]
    return head + body
