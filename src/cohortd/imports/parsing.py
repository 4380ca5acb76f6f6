"""Read import files as a stream of Arrow batches, whatever their format.

Every batch carries the file's known columns as strings (``tags`` may be a list) and the
row number of each record as a spreadsheet shows it: for CSV and Parquet the header is
row 1 and the first record row 2 (a quoted newline does not start a new row); for JSON
Lines the row is the line number. Memory stays bounded: nothing holds more than a batch.
"""

from __future__ import annotations

import codecs
import gzip
import json
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from cohortd.imports import wide
from cohortd.imports.columns import CellKind, ImportKind, KindSpec
from cohortd.imports.problems import FileProblem

BATCH_ROWS: Final = 65_536  # JSON Lines (Python objects until the batch is built)
# Parquet batches are columnar from the start: twice as large halves the per-batch costs
# (a staged file, a hashing query...) and cut the staging of 6M rows by about 0.2 s
_PARQUET_BATCH_ROWS: Final = 131_072
_CSV_BLOCK_BYTES: Final = 4 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_PARQUET_MAGIC: Final = b"PAR1"
_BOM: Final = b"\xef\xbb\xbf"
_ZIP_MAGIC: Final = b"PK\x03\x04"


class FileFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


_EXTENSIONS: Final = {
    ".csv": FileFormat.csv,
    ".txt": FileFormat.csv,
    ".parquet": FileFormat.parquet,
    ".pq": FileFormat.parquet,
    ".jsonl": FileFormat.jsonl,
    ".ndjson": FileFormat.jsonl,
    ".json": FileFormat.jsonl,
}


@dataclass(frozen=True, slots=True)
class ImportSource:
    """One file to import: its kind, where it is, and the name problems show."""

    kind: ImportKind
    path: Path
    name: str


@dataclass(slots=True)
class RawBatch:
    """Known columns as strings (``tags``: string or list; from Parquet, dates, timestamps,
    scores and decimal money keep their Arrow type), one row number per record.

    ``flagged_rows`` / ``flagged_cells`` mark what the reader already reported (a JSON line
    that is not an object, a cell of the wrong JSON type) so validation rejects those rows
    without reporting them twice.
    """

    columns: dict[str, pa.Array]
    rows: pa.Array
    problems: list[tuple[int, str | None, str | None, str]] = field(default_factory=list)
    flagged_rows: set[int] = field(default_factory=set)
    flagged_cells: dict[str, set[int]] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Sniffed:
    format: FileFormat
    gzipped: bool


def sniff(path: Path, name: str) -> Sniffed:
    """The format from magic bytes, checked against what the file name claims."""
    lowered = name.lower()
    claims_gzip = lowered.endswith(".gz")
    stem = lowered[:-3] if claims_gzip else lowered
    claimed = _EXTENSIONS.get(Path(stem).suffix)
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head:
        raise FileProblem("the file is empty")
    gzipped = head.startswith(_GZIP_MAGIC)
    if claims_gzip and not gzipped:
        raise FileProblem("the file is named .gz but is not gzip-compressed")
    if gzipped:
        head = _gunzip_head(path)
    if not head.strip() or head in (_BOM, _BOM + b"\n", _BOM + b"\r\n"):
        raise FileProblem("the file is empty")
    detected = _detect(head)
    if claimed is None:
        return Sniffed(detected or FileFormat.csv, gzipped)
    if claimed is FileFormat.parquet and detected is not FileFormat.parquet:
        raise FileProblem("the file is named as Parquet but is not a Parquet file")
    if claimed is not FileFormat.parquet and detected is FileFormat.parquet:
        raise FileProblem(f"the file is named as {claimed.value.upper()} but is a Parquet file")
    if claimed is FileFormat.jsonl and detected is not FileFormat.jsonl:
        raise FileProblem("the file is named as JSON Lines but does not start with a JSON object")
    if claimed is FileFormat.csv and b"\x00" in head:
        raise FileProblem("the file is named as CSV but holds binary data")
    return Sniffed(claimed, gzipped)


def _gunzip_head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(512)
    except (OSError, EOFError, zlib.error):
        raise FileProblem("the file is not a valid gzip stream") from None


def _detect(head: bytes) -> FileFormat | None:
    if head.startswith(_PARQUET_MAGIC):
        return FileFormat.parquet
    if head.removeprefix(_BOM).lstrip()[:1] == b"{":
        return FileFormat.jsonl
    return None


def read_batches(
    source: ImportSource, spec: KindSpec, *, batch_rows: int | None = None
) -> Iterator[RawBatch]:
    """Stream the file's records as ``RawBatch``es; raises ``FileProblem`` for a bad file."""
    with ExitStack() as stack:
        source = _unzipped(source, stack)
        sniffed = sniff(source.path, source.name)
        match sniffed.format:
            case FileFormat.csv:
                yield from _csv_batches(source.path, sniffed.gzipped, spec)
            case FileFormat.jsonl:
                yield from _jsonl_batches(
                    source.path, sniffed.gzipped, spec, batch_rows or BATCH_ROWS
                )
            case FileFormat.parquet:
                path = source.path
                if sniffed.gzipped:
                    path = _gunzip_to_temp(source.path, stack)
                yield from _parquet_batches(path, spec, batch_rows or _PARQUET_BATCH_ROWS)


# An archive inflated to disk may grow at most this many times its own size (plus a
# floor): CSV and Parquet compress 3-20 times, the ECB's history about 7 times; a
# "zip bomb" grows a thousand times and more, and would fill the disk first.
MAX_INFLATION = 200
_INFLATION_FLOOR = 64 << 20


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _inflate(source: _Reader, target: IO[bytes], compressed_size: int) -> None:
    """Copy ``source`` (an inflating reader) to ``target``, refusing past the cap."""
    cap = compressed_size * MAX_INFLATION + _INFLATION_FLOOR
    written = 0
    while piece := source.read(1 << 20):
        written += len(piece)
        if written > cap:
            raise FileProblem(
                f"the archive inflates to more than {MAX_INFLATION} times its size "
                f"({cap:,} bytes): refused as a likely zip bomb"
            )
        target.write(piece)


def _unzipped(source: ImportSource, stack: ExitStack) -> ImportSource:
    """A zip archive of one file (as the ECB publishes ``eurofxref-hist.zip``) as that
    file, inflated to a temp file; any other file as it is."""
    with source.path.open("rb") as handle:
        head = handle.read(len(_ZIP_MAGIC))
    if head != _ZIP_MAGIC:
        if source.name.lower().endswith(".zip"):
            raise FileProblem("the file is named .zip but is not a zip archive")
        return source
    try:
        with zipfile.ZipFile(source.path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise FileProblem("a zip archive must hold exactly one file")
            suffix = "".join(Path(members[0].filename).suffixes[-2:])
            target = stack.enter_context(tempfile.NamedTemporaryFile(suffix=suffix))  # noqa: SIM115
            with archive.open(members[0]) as inner:
                _inflate(inner, target, source.path.stat().st_size)
            target.flush()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise FileProblem("the file is not a readable zip archive") from None
    name = Path(members[0].filename).name
    return ImportSource(source.kind, Path(target.name), name)


def check_header(names: list[str], spec: KindSpec) -> None:
    """Unknown, duplicated or missing required columns reject the whole file (row 1)."""
    items: list[tuple[int | None, str | None, str]] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            items.append((1, name, "duplicate column"))
        elif name not in spec.names:
            items.append((1, name, f"unknown column (expected some of: {', '.join(spec.names)})"))
        seen.add(name)
    items += [(1, name, "required column is missing") for name in spec.required if name not in seen]
    if items:
        raise FileProblem.many(items)


# -- CSV ---------------------------------------------------------------------------------
def _csv_stream(path: Path, gzipped: bool) -> pa.NativeFile:
    return pa.input_stream(str(path), compression="gzip" if gzipped else None)


def _check_utf8(path: Path, gzipped: bool) -> None:
    """Refuse a file that is not UTF-8 text before parsing it: a row of the wrong shape
    holding invalid bytes would otherwise reach pyarrow's invalid-row callback, which
    cannot decode it (an unraisable error, and a vaguer problem)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def scan() -> None:
        with _csv_stream(path, gzipped) as stream:
            while chunk := stream.read(_CSV_BLOCK_BYTES):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)

    _arrow_call(scan)  # invalid bytes, a damaged gzip stream: the read's own problems


def _csv_batches(path: Path, gzipped: bool, spec: KindSpec) -> Iterator[RawBatch]:
    _check_utf8(path, gzipped)
    names = _csv_header(path, gzipped)
    is_wide = spec.kind is ImportKind.exchange_rates and wide.is_wide(names)
    if is_wide:
        wide.check_wide_header(names)
    else:
        check_header(names, spec)
    bad_shapes: list[Any] = []
    convert = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    parse = _csv_parse_options(bad_shapes)
    read = pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES, use_threads=True)
    next_row = 2
    with _csv_stream(path, gzipped) as stream:
        reader = _arrow_call(lambda: pcsv.open_csv(stream, read, parse, convert))
        while (batch := _arrow_call(lambda: _next_or_none(reader))) is not None:
            if bad_shapes:
                break
            rows = _numbers(next_row, batch.num_rows)
            next_row += batch.num_rows
            if not is_wide:
                yield RawBatch(columns=_blank_rows_to_null(batch), rows=rows)
                continue
            cells = [pc.if_else(pc.equal(c, ""), None, c) for c in batch.columns]
            long, long_rows = wide.long_batch(names, cells, rows)
            if len(long_rows):
                yield RawBatch(columns=long, rows=long_rows)
    if bad_shapes:
        raise FileProblem.many(_bad_shape_lines(path, gzipped, names))


def _csv_parse_options(bad_shapes: list[Any]) -> pcsv.ParseOptions:
    def on_invalid_row(row: Any) -> str:
        bad_shapes.append(row)  # the row's text is never echoed: it may hold PII
        return "skip"

    return pcsv.ParseOptions(
        newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid_row
    )


def _bad_shape_lines(
    path: Path, gzipped: bool, names: list[str]
) -> list[tuple[int | None, str | None, str]]:
    """Where the rows with a wrong number of fields are: a single-threaded pass knows lines."""
    bad_shapes: list[Any] = []
    read = pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES, use_threads=False)
    convert = pcsv.ConvertOptions(column_types={name: pa.string() for name in names})
    with _csv_stream(path, gzipped) as stream:
        for _ in pcsv.open_csv(stream, read, _csv_parse_options(bad_shapes), convert):
            if len(bad_shapes) >= 100:
                break
    return [(row.number, None, f"line {row.number}: {_shape(row)}") for row in bad_shapes[:100]]


def _shape(row: Any) -> str:
    return f"{row.actual_columns} fields where the header has {row.expected_columns}"


def _csv_header(path: Path, gzipped: bool) -> list[str]:
    probe = pcsv.ReadOptions(block_size=64 << 10, use_threads=False)
    with _csv_stream(path, gzipped) as stream:
        reader = _arrow_call(
            lambda: pcsv.open_csv(
                stream,
                probe,
                pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda _: "skip"),
                pcsv.ConvertOptions(strings_can_be_null=False, include_columns=[]),
            )
        )
        names: list[str] = _arrow_call(lambda: reader.schema.names)  # may not be UTF-8
        return [name.strip() for name in names]


def _next_or_none(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _arrow_call(call: Any) -> Any:
    """Run a pyarrow read, turning its errors into file problems that echo no cell."""
    try:
        return call()
    except UnicodeDecodeError:
        raise FileProblem("the file is not valid UTF-8 text") from None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
        message = str(error)
        if "UTF8" in message or "UTF-8" in message:
            raise FileProblem("the file is not valid UTF-8 text") from None
        if "Empty CSV file" in message:
            raise FileProblem("the file is empty") from None
        raise FileProblem("the file cannot be parsed as CSV") from None


def _numbers(first: int, count: int) -> pa.Array:
    """The file row numbers ``first``, ``first + 1``, ... of a batch of ``count`` records."""
    return pa.array(np.arange(first, first + count, dtype=np.int64))


def _blank_rows_to_null(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    """Header-trimmed names; an empty cell is absent."""
    columns: dict[str, pa.Array] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        columns[name.strip()] = pc.if_else(pc.equal(column, ""), None, column)
    return columns


# -- Parquet -----------------------------------------------------------------------------
def _gunzip_to_temp(path: Path, stack: ExitStack) -> Path:
    # Parquet needs random access; a gzipped one is inflated to a temp file, not memory.
    target = stack.enter_context(tempfile.NamedTemporaryFile(suffix=".parquet"))  # noqa: SIM115
    with gzip.open(path, "rb") as source:
        try:
            _inflate(source, target, path.stat().st_size)
        except (OSError, EOFError, zlib.error):
            raise FileProblem("the file is not a readable gzip file") from None
    target.flush()
    return Path(target.name)


def _parquet_batches(path: Path, spec: KindSpec, batch_rows: int) -> Iterator[RawBatch]:
    try:
        parquet = pq.ParquetFile(path)
        names = list(parquet.schema_arrow.names)
    except _PARQUET_ERRORS:
        raise FileProblem("the file is not a readable Parquet file") from None
    check_header(names, spec)
    kinds = {c.name: c.kind for c in spec.columns}
    next_row = 2
    for batch in _parquet_read(parquet.iter_batches(batch_size=batch_rows)):
        rows = _numbers(next_row, batch.num_rows)
        next_row += batch.num_rows
        columns = {
            name: _parquet_column(name, column, kinds[name])
            for name, column in zip(batch.schema.names, batch.columns, strict=True)
        }
        yield RawBatch(columns=columns, rows=rows)


# what a damaged Parquet file raises (a name that is not UTF-8 included), at any point
_PARQUET_ERRORS: Final = (pa.ArrowException, OSError, UnicodeDecodeError, ValueError)


def _parquet_read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, a damaged page or footer becoming a file problem wherever it shows."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except _PARQUET_ERRORS:
            raise FileProblem("the file is not a readable Parquet file") from None
        yield batch


def _parquet_column(name: str, column: pa.Array, kind: CellKind) -> pa.Array:
    kind_type = column.type
    if kind is CellKind.tags and (pa.types.is_list(kind_type) or pa.types.is_large_list(kind_type)):
        return column.cast(pa.list_(pa.string()))
    # Typed columns that need no parsing pass through as they are (cells handles them).
    if kind is CellKind.date and pa.types.is_date32(kind_type):
        return column
    if kind is CellKind.date and pa.types.is_timestamp(kind_type):
        return column.cast(pa.date32())
    if kind is CellKind.timestamp and pa.types.is_timestamp(kind_type):
        return column
    if kind is CellKind.timestamp and pa.types.is_date(kind_type):
        return column.cast(pa.timestamp("us"))
    numeric = pa.types.is_floating(kind_type) or pa.types.is_integer(kind_type)
    if kind in (CellKind.unit_score, CellKind.percent_score) and numeric:
        return column.cast(pa.float64())
    if pa.types.is_decimal(kind_type) and kind is CellKind.money:
        return column  # exact as it is (cells.money)
    if pa.types.is_floating(kind_type) and kind is CellKind.money:
        # The shortest repr of a double is the decimal its writer meant (19.99, not 19.989...).
        return pa.array([None if v is None else repr(v) for v in column.to_pylist()], pa.string())
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise FileProblem(
            f"column has Parquet type {kind_type}, which cannot be read as {kind.value}",
            column=name,
        ) from None


# -- JSON Lines --------------------------------------------------------------------------
def _jsonl_batches(
    path: Path, gzipped: bool, spec: KindSpec, batch_rows: int
) -> Iterator[RawBatch]:
    opener = gzip.open if gzipped else open
    kinds = {c.name: c.kind for c in spec.columns}
    with opener(path, "rt", encoding="utf-8-sig", newline="\n") as handle:
        chunk: list[tuple[int, str]] = []
        line_no = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError:
                raise FileProblem("the file is not valid UTF-8 text") from None
            if not line:
                break
            line_no += 1
            if line.strip():
                chunk.append((line_no, line))
            if len(chunk) >= batch_rows:
                yield _jsonl_batch(chunk, spec, kinds)
                chunk = []
        if chunk:
            yield _jsonl_batch(chunk, spec, kinds)


def _jsonl_batch(
    lines: list[tuple[int, str]], spec: KindSpec, kinds: dict[str, CellKind]
) -> RawBatch:
    values: dict[str, list[Any]] = {name: [] for name in spec.names}
    batch = RawBatch(columns={}, rows=pa.array([n for n, _ in lines], pa.int64()))
    for index, (line_no, line) in enumerate(lines):
        record = _json_record(line)
        if not isinstance(record, dict):
            shape = "not valid JSON" if record is _INVALID else "not a JSON object"
            batch.problems.append((line_no, None, None, shape))
            batch.flagged_rows.add(index)
            record = {}
        for key in record:
            if key not in kinds:
                batch.problems.append((line_no, key, None, "unknown column"))
                batch.flagged_rows.add(index)
        for name in spec.names:
            cell, reason = _json_cell(record.get(name), kinds[name])
            if reason is not None:
                batch.problems.append((line_no, name, _shown(record.get(name)), reason))
                batch.flagged_cells.setdefault(name, set()).add(index)
            values[name].append(cell)
    batch.columns = {
        name: pa.array(
            cells, pa.list_(pa.string()) if kinds[name] is CellKind.tags else pa.string()
        )
        for name, cells in values.items()
    }
    return batch


_INVALID: Final = object()


def _json_record(line: str) -> Any:
    try:
        return json.loads(line, parse_float=str, parse_int=str, parse_constant=str)
    except json.JSONDecodeError:
        return _INVALID


def _shown(value: Any) -> str | None:
    return None if value is None else json.dumps(value)[:200]


def _json_cell(value: Any, kind: CellKind) -> tuple[Any, str | None]:
    """A JSON value as the canonical cell, or the reason its JSON type is wrong."""
    if value is None:
        return None, None
    if kind is CellKind.tags:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value, None
        if isinstance(value, str):
            return value.split(";"), None
        return None, "wrong type: expected a list of strings"
    if kind is CellKind.json_object and isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False), None
    if isinstance(value, str):
        return value, None
    expected = "JSON object" if kind is CellKind.json_object else "string or number"
    return None, f"wrong type: expected a {expected}"
