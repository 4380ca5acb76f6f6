"""Vectorised cell parsers: a string column in, typed values and failure masks out.

Each parser returns a ``Parsed``: the typed values (null where absent or bad) and a list
of ``(mask, reason)`` failures. They run on whole Arrow arrays; the rare batch holding an
impossible date falls back to a per-cell check for that batch only.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cohortd.engine.money import BILLING_EXPONENTS, RATE_CURRENCIES
from cohortd.imports.countries import ISO_3166_ALPHA2

_NUMBER: Final = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_DECIMAL: Final = r"^(?P<int>\d+)(?:\.(?P<frac>\d*))?$"
_NEGATIVE: Final = r"^-\d*\.?\d*[1-9]"
_DATE: Final = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP: Final = (
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
)
_HAS_ZONE: Final = r"(Z|[+-]\d{2}(:?\d{2})?)$"
_EMAIL: Final = r"^[^@\s]+@[^@\s]+$"
_MAX_KEY: Final = 255
_MAX_DIGITS: Final = 18  # int64 holds every 18-digit number of minor units
_RATE_TYPE: Final = pa.decimal128(24, 10)
_COUNTRIES: Final = pa.array(sorted(ISO_3166_ALPHA2))
_CURRENCIES: Final = pa.array(sorted(BILLING_EXPONENTS))
_EXPONENTS: Final = pa.array([BILLING_EXPONENTS[c] for c in sorted(BILLING_EXPONENTS)], pa.int8())
_RATE_CURRENCIES: Final = pa.array(sorted(RATE_CURRENCIES))


@dataclass(slots=True)
class Parsed:
    values: pa.Array
    failures: list[tuple[pa.Array, str]] = field(default_factory=list)

    def fail(self, mask: pa.Array, reason: str) -> None:
        self.failures.append((pc.fill_null(mask, False), reason))


def blank_to_null(column: pa.Array) -> pa.Array:
    """Trimmed; an empty or all-blank cell is absent."""
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def text(column: pa.Array) -> Parsed:
    """Free text, stored exactly as given (a leading ``=`` included); empty means absent."""
    return Parsed(pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column))


def key(column: pa.Array) -> Parsed:
    parsed = Parsed(blank_to_null(column))
    longest = pc.max(pc.binary_length(parsed.values)).as_py()
    if longest is not None and longest > _MAX_KEY:  # bytes: count characters only then
        too_long = pc.greater(pc.utf8_length(parsed.values), _MAX_KEY)
        parsed.fail(too_long, "longer than 255 characters")
    return parsed


def email(column: pa.Array) -> Parsed:
    parsed = Parsed(blank_to_null(column))
    parsed.fail(pc.invert(pc.match_substring_regex(parsed.values, _EMAIL)), "not an email address")
    return parsed


_hasher = threading.local()


def email_hashed(emails: pa.Array) -> pa.Array:
    """``sha256:`` + hex SHA-256 of the trimmed, lower-cased email (SPEC §1).

    Trimmed and lower-cased by Arrow, hashed by an in-memory DuckDB (``sha256`` of the
    UTF-8 bytes, lower-case hex): the same digests as ``hashlib`` (a test compares
    them). One DuckDB thread per validation thread: the import validates batches on
    several threads already, and more would only contend for the cores. Not the
    warehouse's connection: the value is the same whatever the backend."""
    normalised = pc.utf8_lower(pc.utf8_trim_whitespace(emails))
    con = _thread_duckdb()
    con.register("emails", pa.table({"e": normalised}))
    try:
        hashed = con.execute("SELECT 'sha256:' || sha256(e) AS h FROM emails").to_arrow_table()
    finally:
        con.unregister("emails")
    return hashed["h"].combine_chunks().cast(pa.string())


def key_hashes(rows: pa.Table, key: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each row's ``key`` (DuckDB's ``hash``: equal keys, equal
    hashes), as a numpy ``uint64`` array: what ``KeyHashes`` proves distinct keys with."""
    con = _thread_duckdb()
    con.register("keyed", rows.select(list(key)))
    try:
        columns = ", ".join(f'"{k}"' for k in key)  # the import's own column names
        hashed = con.execute(f"SELECT hash({columns}) AS h FROM keyed").fetchnumpy()["h"]
    finally:
        con.unregister("keyed")
    return np.asarray(hashed, dtype=np.uint64)


def _thread_duckdb() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB of one thread (the import validates batches on
    several threads already: more would only contend for the cores)."""
    con = getattr(_hasher, "con", None)
    if con is None:  # one per thread: opening one costs ~30 ms, a batch's hashing ~70 ms
        con = _hasher.con = duckdb.connect(config={"threads": 1})
    return con


def code(column: pa.Array, allowed: pa.Array, reason: str, *, upper: bool = True) -> Parsed:
    """One of ``allowed`` (ASCII codes), in any case. Only ASCII letters change case: a
    value with any other letter is not a code, whatever Unicode would map it to."""
    values = blank_to_null(column)
    values = pc.ascii_upper(values) if upper else pc.ascii_lower(values)
    parsed = Parsed(values)
    parsed.fail(
        pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed))), reason
    )
    return parsed


def country(column: pa.Array) -> Parsed:
    return code(column, _COUNTRIES, "not an ISO 3166-1 alpha-2 country code")


def currency(column: pa.Array) -> Parsed:
    """A billing currency: an active ISO 4217 code or one of the ECB's retired series."""
    return code(column, _CURRENCIES, "not an ISO 4217 currency code")


def rate_currency(column: pa.Array) -> Parsed:
    """The currency of an exchange rate: any ISO 4217 code, active or historic."""
    return code(column, _RATE_CURRENCIES, "not an ISO 4217 currency code")


def status(column: pa.Array, allowed: tuple[str, ...]) -> Parsed:
    return code(
        column,
        pa.array(allowed),
        f"unknown status (expected one of: {', '.join(allowed)})",
        upper=False,
    )


def tags(column: pa.Array) -> pa.Array:
    """A list of trimmed, non-empty tags; a CSV cell is split on ``;``; absent is ``[]``."""
    lists = column if pa.types.is_list(column.type) else pc.split_pattern(column, ";")
    lists = pc.fill_null(lists, pa.scalar([], pa.list_(pa.string())))
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    parents = pc.list_parent_indices(lists)
    keep = pc.fill_null(pc.not_equal(flat, ""), False)
    kept = pc.filter(flat, keep)
    counts = np.bincount(pc.filter(parents, keep).to_numpy(), minlength=len(column))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), kept)


def score(column: pa.Array, *, high: float) -> Parsed:
    if pa.types.is_floating(column.type):
        typed = Parsed(column)
        typed.fail(pc.invert(pc.is_finite(column)), "not a number")
        out_of_range = pc.or_(pc.less(column, 0.0), pc.greater(column, high))
        typed.fail(out_of_range, f"must be between 0 and {high:g}")
        return typed
    values = blank_to_null(column)
    numeric = pc.match_substring_regex(values, _NUMBER)
    parsed = Parsed(pc.cast(pc.if_else(numeric, values, None), pa.float64()))
    parsed.fail(pc.invert(numeric), "not a number")
    out_of_range = pc.or_(pc.less(parsed.values, 0.0), pc.greater(parsed.values, high))
    parsed.fail(out_of_range, f"must be between 0 and {high:g}")
    return parsed


def timestamp(column: pa.Array) -> Parsed:
    """ISO 8601 date or date-time; with no offset it is UTC; stored as naive UTC."""
    if pa.types.is_timestamp(column.type):
        if column.type.tz is not None:
            column = pc.cast(column, pa.timestamp("us", "UTC"))
        return Parsed(pc.cast(column, pa.timestamp("us")))
    values = blank_to_null(column)
    shaped = pc.match_substring_regex(values, _TIMESTAMP)
    wellformed = pc.if_else(shaped, values, None)
    dated = pc.if_else(
        pc.match_substring_regex(wellformed, _DATE),
        pc.binary_join_element_wise(wellformed, "T00:00:00", ""),
        wellformed,
    )
    zoned = pc.if_else(
        pc.match_substring_regex(dated, _HAS_ZONE),
        dated,
        pc.binary_join_element_wise(dated, "Z", ""),
    )
    parsed = Parsed(pa.nulls(len(column), pa.timestamp("us")))
    parsed.fail(pc.invert(shaped), "not an ISO 8601 date or timestamp")
    try:
        parsed.values = pc.cast(pc.cast(zoned, pa.timestamp("us", "UTC")), pa.timestamp("us"))
    except pa.ArrowInvalid:
        parsed.values, impossible = _timestamps_one_by_one(zoned)
        parsed.fail(impossible, "impossible date or time")
    return parsed


def _timestamps_one_by_one(zoned: pa.Array) -> tuple[pa.Array, pa.Array]:
    values: list[datetime | None] = []
    impossible: list[bool] = []
    for cell in zoned.to_pylist():
        parsed = None
        if cell is not None:
            try:
                parsed = pc.cast(pa.array([cell]), pa.timestamp("us", "UTC"))[0].as_py()
            except pa.ArrowInvalid:
                parsed = None
        values.append(None if parsed is None else parsed.replace(tzinfo=None))
        impossible.append(cell is not None and parsed is None)
    return pa.array(values, pa.timestamp("us")), pa.array(impossible)


def date_(column: pa.Array) -> Parsed:
    if pa.types.is_date32(column.type):
        return Parsed(column)
    values = blank_to_null(column)
    with suppress(pa.ArrowInvalid):
        # Arrow's own parse takes exactly YYYY-MM-DD of a real day, as the rules below
        # do (a test compares them): when every cell passes, the regex pass is not needed
        return Parsed(pc.cast(values, pa.date32()))
    return _checked_date(values)


def _checked_date(values: pa.Array) -> Parsed:
    """``date_`` cell by cell: the days and every cell's problem."""
    shaped = pc.match_substring_regex(values, _DATE)
    wellformed = pc.if_else(shaped, values, None)
    parsed = Parsed(pa.nulls(len(values), pa.date32()))
    parsed.fail(pc.invert(shaped), "not a date (YYYY-MM-DD)")
    try:
        parsed.values = pc.cast(wellformed, pa.date32())
    except pa.ArrowInvalid:
        days: list[date | None] = []
        for cell in wellformed.to_pylist():
            try:
                days.append(None if cell is None else date.fromisoformat(cell))
            except ValueError:
                days.append(None)
        parsed.values = pa.array(days, pa.date32())
        parsed.fail(pc.and_(pc.is_valid(wellformed), pc.is_null(parsed.values)), "impossible date")
    return parsed


def json_object(column: pa.Array) -> Parsed:
    """JSON object text, stored as given; anything else is a problem."""
    parsed = text(column)
    bad = [cell is not None and not _is_json_object(cell) for cell in parsed.values.to_pylist()]
    parsed.fail(pa.array(bad, pa.bool_()), "not a JSON object")
    return parsed


def _is_json_object(cell: str) -> bool:
    try:
        return isinstance(json.loads(cell), dict)
    except ValueError:
        return False


def money(column: pa.Array, currencies: pa.Array) -> Parsed:
    """Exact major-unit decimals to int64 minor units of each row's currency; a decimal
    column (Parquet) as the text it reads as."""
    exponents = pc.take(_EXPONENTS, pc.index_in(currencies, value_set=_CURRENCIES))
    if pa.types.is_decimal(column.type):
        exact = _decimal_money(column, exponents)
        if exact is not None:
            return Parsed(exact)
        column = decimal_text(column)
    values = blank_to_null(column)
    plain = _plain_money(values, exponents)
    return Parsed(plain) if plain is not None else _checked_money(values, exponents)


def _checked_money(values: pa.Array, exponents: pa.Array) -> Parsed:
    """``money`` cell by cell: the values that fit and every cell's problem."""
    parts = pc.extract_regex(pc.if_else(pc.is_null(values), "", values), _DECIMAL)
    decimal = pc.and_(pc.is_valid(values), pc.match_substring_regex(values, _DECIMAL))
    whole = pc.struct_field(parts, "int")
    fraction = pc.utf8_rtrim(pc.struct_field(parts, "frac"), "0")
    parsed = Parsed(pa.nulls(len(values), pa.int64()))
    negative = pc.match_substring_regex(values, _NEGATIVE)
    parsed.fail(negative, "negative MRR")
    parsed.fail(pc.and_(pc.invert(decimal), pc.invert(negative)), "not a decimal number")
    for exp in sorted(set(pc.unique(exponents).drop_null().to_pylist())):
        rows = pc.and_(decimal, pc.fill_null(pc.equal(exponents, exp), False))
        too_precise = pc.and_(rows, pc.greater(pc.utf8_length(fraction), exp))
        parsed.fail(too_precise, f"more decimals than the currency allows ({exp})")
        too_big = pc.and_(rows, pc.greater(pc.utf8_length(whole), _MAX_DIGITS - exp))
        parsed.fail(too_big, "too large")
        fits = pc.and_(rows, pc.invert(pc.or_(too_precise, too_big)))
        digits = pc.binary_join_element_wise(whole, pc.utf8_rpad(fraction, exp, "0"), "")
        minor = pc.cast(pc.if_else(fits, digits, "0"), pa.int64())
        parsed.values = pc.if_else(fits, minor, parsed.values)
    return parsed


_POWERS: Final = pa.array([10**k for k in range(_MAX_DIGITS + 1)], pa.int64())


def _plain_money(values: pa.Array, exponents: pa.Array) -> pa.Array | None:
    """The minor units of a column where every cell is plain: digits, then at most one
    point and at most the currency's decimals, and it fits; ``None`` if any cell is not
    (``money`` then checks cell by cell and names the problems). Without regular
    expressions: three times faster on the common case (a test compares both paths)."""
    digits = pc.replace_substring(values, ".", "", max_replacements=1)
    lead = pc.utf8_slice_codeunits(values, 0, 1)
    plain = pc.and_(pc.ascii_is_decimal(digits), pc.ascii_is_decimal(lead))
    if not pc.all(plain).as_py():  # null where the cell is absent: all() skips it
        return None
    point = pc.find_substring(values, ".")
    length = pc.utf8_length(values)
    decimals = pc.if_else(pc.less(point, 0), 0, pc.subtract(pc.subtract(length, point), 1))
    whole = pc.if_else(pc.less(point, 0), length, point)
    exps = pc.cast(exponents, pa.int32())
    shift = pc.subtract(exps, pc.cast(decimals, pa.int32()))
    fits = pc.and_(
        pc.greater_equal(shift, 0),
        pc.less_equal(pc.cast(whole, pa.int32()), pc.subtract(_MAX_DIGITS, exps)),
    )
    if not pc.all(fits).as_py():  # null where the cell or the currency is absent
        return None
    units = pc.cast(pc.if_else(pc.is_null(exps), None, digits), pa.int64())
    return pc.multiply(units, pc.take(_POWERS, pc.fill_null(shift, 0)))


def decimal_text(column: pa.Array) -> pa.Array:
    """Decimals as plain text ("0.0000000", never Arrow's "0E-7"), cell by cell: only
    for a column that ``_decimal_money`` leaves to the text rules."""
    return pa.array(
        [None if v is None else format(v, "f") for v in column.to_pylist()], pa.string()
    )


def _decimal_money(column: pa.Array, exponents: pa.Array) -> pa.Array | None:
    """The minor units of a decimal column whose every value is positive or zero, has
    no more decimals than its currency allows (trailing zeros aside) and fits; ``None``
    otherwise (``money`` then reads it as text, cell by cell). Read from the decimal's
    own integer, never through text (a test compares both paths)."""
    kind = column.type
    if not pa.types.is_decimal128(kind) or kind.precision > _MAX_DIGITS or len(column) == 0:
        return None  # decimal32/64/256 and wide decimals: as text
    if sys.byteorder != "little":
        return None
    words = np.frombuffer(column.buffers()[1], dtype=np.int64)
    start = 2 * column.offset  # 128-bit values, the low word first (little-endian)
    units = words[start : start + 2 * len(column) : 2]  # the whole value (18 digits fit)
    given = column.is_valid().to_numpy(zero_copy_only=False)
    if (units[given] < 0).any():  # negative MRR, whatever the currency
        return None
    present = given & exponents.is_valid().to_numpy(zero_copy_only=False)
    exps = exponents.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    units = np.where(present, units, 0)
    shift = exps - kind.scale
    up = np.where(shift > 0, shift, 0)
    down = np.where(shift < 0, -shift, 0)
    if (units % (10**down) != 0).any():  # more decimals than the currency allows
        return None
    reduced = units // 10**down
    if (reduced >= 10 ** (_MAX_DIGITS - up)).any():  # too large: 18 digits of minor units
        return None
    return pa.array(reduced * 10**up, pa.int64(), mask=~present)


def rate(column: pa.Array) -> Parsed:
    """A positive decimal with at most 10 decimals (the ``fx_rates.rate`` scale)."""
    values = blank_to_null(column)
    decimal = pc.match_substring_regex(values, _DECIMAL)
    parts = pc.extract_regex(pc.if_else(decimal, values, "0"), _DECIMAL)
    fraction = pc.utf8_rtrim(pc.struct_field(parts, "frac"), "0")
    whole = pc.utf8_ltrim(pc.struct_field(parts, "int"), "0")
    parsed = Parsed(pa.nulls(len(column), _RATE_TYPE))
    parsed.fail(pc.invert(decimal), "not a positive decimal number")
    too_precise = pc.greater(pc.utf8_length(fraction), 10)
    too_big = pc.greater(pc.utf8_length(whole), 14)
    zero = pc.and_(pc.equal(whole, ""), pc.equal(fraction, ""))
    parsed.fail(pc.and_(decimal, too_precise), "more than 10 decimals")
    parsed.fail(pc.and_(decimal, too_big), "too large")
    parsed.fail(pc.and_(decimal, zero), "must be greater than 0")
    fits = pc.and_(decimal, pc.invert(pc.or_(pc.or_(too_precise, too_big), zero)))
    parsed.values = pc.cast(pc.if_else(fits, values, None), _RATE_TYPE)
    return parsed
