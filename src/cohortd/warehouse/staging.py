"""Staging for imports: stage each file's rows, check them, then merge in one transaction.

Rows are staged batch by batch per file: into a temporary table (gone if the process
dies), or on DuckDB as Parquet files in a temporary folder read through a temporary
view (the folder is removed when the import ends). Whole-file checks run there as Ibis
expressions, and ``merge`` upserts every kind inside one data-plane transaction: the
previous data stays intact until it commits. The same transaction records the changed
customers for ``engine.derived.catch_up``."""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from cohortd.engine import derived
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import COMPRESSION, CUSTOMERS, SCHEMAS, SUBSCRIPTIONS

ROW = "_row"


class ChangeRecorder(Protocol):
    """Told of the customers whose subscription rows a merge changes, inside the merge's
    transaction: ``before`` while their old rows are still stored, ``after`` once every
    table is merged (the caller records what changed, e.g. events, in that transaction)."""

    def before(self, owners: ir.Table) -> None: ...

    def after(self) -> None: ...


ACTION = "_action"
_WAS = "_was"
# the column naming the customer a target's row belongs to
_OWNER = {CUSTOMERS: "id", SUBSCRIPTIONS: "customer_id"}
_SCOPE_COLUMNS = ("org_id", "livemode")
_FLUSH_ROWS = 262_144
# Staged files are written once and read two or three times, right away, by DuckDB:
# uncompressed, with dictionary pages only for the columns that repeat (the categories,
# and a subscription's customer). At 1M customers and 5M subscriptions, writing takes
# about 1 CPU second instead of 2.2 (dictionaries tried on unique ids, snappy on hex
# digests), and DuckDB inserts the subscriptions in 3.9 instead of 4.5 CPU seconds
# (dictionary vectors compress cheaper). docs/import.md.
_DICTIONARY_PAGES: dict[str, list[str]] = {
    CUSTOMERS: [c for c, how in COMPRESSION[CUSTOMERS].items() if how == "dictionary"],
    SUBSCRIPTIONS: [
        *(c for c, how in COMPRESSION[SUBSCRIPTIONS].items() if how == "dictionary"),
        _OWNER[SUBSCRIPTIONS],
    ],
}


@dataclass(frozen=True, slots=True)
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class RowFinding:
    """A staged row that fails a whole-file check: its row number, the value, why."""

    row: int
    value: str
    reason: str


@dataclass(slots=True)
class StagedTable:
    """One file's rows shaped like ``target`` (minus scope) plus ``_row``: a temp table,
    or on a backend that ``stages_files``, Parquet files read through a temp view (an
    empty temp table until ``flush``)."""

    name: str
    target: str
    key: tuple[str, ...]
    table: ir.Table
    rows: int = 0
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0
    files: list[Path] = field(default_factory=list)
    view: bool = False


@dataclass(slots=True)
class Staging:
    """The temp tables of one import; ``drop()`` them when done (they die with the session)."""

    warehouse: Warehouse
    scope: Scope
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    tables: dict[str, StagedTable] = field(default_factory=dict)
    scratch: list[str] = field(default_factory=list)  # other temp tables of the merge
    folder: Path | None = None  # the staged Parquet files (``Warehouse.stages_files``)
    parts: int = 0  # Parquet files written so far (their names' numbers)
    _naming: threading.Lock = field(default_factory=threading.Lock)

    def create(self, label: str, *, target: str, key: Sequence[str]) -> StagedTable:
        name = f"_cohortd_stage_{self.token}_{label}"
        columns = {
            column: dtype.copy(nullable=True)
            for column, dtype in SCHEMAS[target].items()
            if column not in _SCOPE_COLUMNS
        }
        columns[ROW] = dt.int64
        table = self.warehouse.create_temp_table(name, ibis.schema(columns))
        staged = StagedTable(name, target, tuple(key), table)
        self.tables[label] = staged
        return staged

    def append(self, staged: StagedTable, rows: pa.Table, part: Path | None = None) -> None:
        """Stage ``rows``: a Parquet file of their own where the backend ``stages_files``
        (``part``, if ``write_part`` wrote it already), else buffered and inserted in
        chunks of ``_FLUSH_ROWS``. Parts are kept in the order they are appended.

        One large insert is several times faster than many small ones (DuckDB scans a big
        Arrow table in parallel), and the buffer stays a few tens of MB."""
        if not rows.num_rows:
            return
        if self.warehouse.stages_files:
            staged.files.append(part or self.write_part(staged, rows))
            staged.rows += rows.num_rows
            return
        staged.pending.append(rows)
        staged.pending_rows += rows.num_rows
        if staged.pending_rows >= _FLUSH_ROWS:
            self.flush(staged)

    def write_part(self, staged: StagedTable, rows: pa.Table) -> Path:
        """Write ``rows`` as a new Parquet file of ``staged`` and return its path; safe to
        call from several threads (the import's validation threads do: the writing is a
        fifth of the staging's CPU). ``append`` then takes it in file order."""
        with self._naming:
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix="cohortd-staging-"))
            self.parts += 1
            path = self.folder / f"{staged.name}_{self.parts:07d}.parquet"
        dictionary = _DICTIONARY_PAGES.get(staged.target, [])
        pq.write_table(rows, path, compression="none", use_dictionary=dictionary)
        return path

    def flush(self, staged: StagedTable) -> None:
        """Write the buffered rows (call once a file is read, before any check)."""
        if staged.files and not staged.view:
            # the empty placeholder gives way to the view over the files, same name
            self.warehouse.drop_temp_table(staged.name)
            staged.table = self.warehouse.files_view(staged.name, staged.files)
            staged.view = True
        if staged.pending:
            chunk = pa.concat_tables(staged.pending)
            staged.pending, staged.pending_rows = [], 0
            self.warehouse.insert_arrow(staged.name, chunk)
            staged.rows += chunk.num_rows

    def duplicates(self, staged: StagedTable, *, limit: int) -> tuple[list[RowFinding], int]:
        """Rows repeating an earlier row's key in the same file (the first one is kept)."""
        t = staged.table
        # Counting first is one cheap aggregate; the window query runs only if needed.
        count = staged.rows - int(self.warehouse.execute(t.select(*staged.key).distinct().count()))
        if count == 0:
            return [], 0
        repeats = self._repeats(staged)
        found = self._findings(
            repeats,
            value=_key_text(repeats, staged.key),
            reason_of=lambda r: f"duplicate {'+'.join(staged.key)} (first in row {r['_first']})",
            limit=limit,
        )
        return found, count

    def unknown_customers(
        self, subscriptions: StagedTable, customers: StagedTable | None, *, limit: int
    ) -> tuple[list[RowFinding], int]:
        """Subscriptions whose customer is neither in this import nor stored in the scope."""
        orphans = self._orphans(subscriptions, customers)
        count = self._count(orphans)
        if count == 0:
            return [], 0
        found = self._findings(
            orphans,
            value=orphans.customer_id,
            reason_of=lambda _: "unknown customer (not in this import nor already stored)",
            limit=limit,
        )
        return found, count

    def drop_rows(self, staged: StagedTable, rows: ir.Table) -> None:
        """Remove the rows whose ``_row`` is in ``rows`` (``on_error=skip``)."""
        kept = staged.table.anti_join(rows, staged.table[ROW] == rows[ROW])
        new_name = f"{staged.name}_k"
        replacement = self.warehouse.create_temp_table(new_name, kept.select(staged.table.columns))
        if staged.view:
            self.warehouse.drop_files_view(staged.name)
        else:
            self.warehouse.drop_temp_table(staged.name)
        staged.name, staged.table, staged.view = new_name, replacement, False
        staged.rows = int(self.warehouse.execute(replacement.count()))

    def duplicate_rows(self, staged: StagedTable) -> ir.Table:
        return self._repeats(staged).select(ROW)

    def orphan_rows(self, subscriptions: StagedTable, customers: StagedTable | None) -> ir.Table:
        return self._orphans(subscriptions, customers).select(ROW)

    def _repeats(self, staged: StagedTable) -> ir.Table:
        t = staged.table
        marked = t.mutate(_first=t[ROW].min().over(group_by=list(staged.key)))
        return marked.filter(marked[ROW] != marked._first)

    def _orphans(self, subscriptions: StagedTable, customers: StagedTable | None) -> ir.Table:
        subs = subscriptions.table
        orphans = subs
        if self._stores_any(CUSTOMERS):  # none stored: no join
            stored = scoped(self.warehouse, CUSTOMERS, self.scope)
            orphans = subs.anti_join(stored, subs.customer_id == stored.id)
        if customers is not None:
            orphans = orphans.anti_join(customers.table, orphans.customer_id == customers.table.id)
        return orphans

    def merge(
        self,
        staged_tables: Sequence[StagedTable],
        *,
        between_steps: Callable[[str], None] | None = None,
        recorder: ChangeRecorder | None = None,
    ) -> dict[str, MergeCounts]:
        """Upsert every staged table into its target, all in one transaction.

        ``between_steps`` is called after each statement (tests inject failures there);
        ``recorder`` hears of changed subscription owners before and after."""
        counts: dict[str, MergeCounts] = {}
        owners: list[ir.Table] = []
        first_import = not self._stores_any(CUSTOMERS)
        with self.warehouse.transaction():
            for staged in staged_tables:
                counts[staged.name] = self._merge_one(staged, owners, between_steps, recorder)
            if recorder is not None:
                recorder.after()
                if between_steps:
                    between_steps("changes:recorded")
            touched = _union(owners)
            if touched is not None:
                # recorded with the data; refreshed by ``derived.catch_up`` after the commit
                derived.mark_stale(self.warehouse, self.scope, None if first_import else touched)
                if between_steps:
                    between_steps("derived:marked")
        self.warehouse.refresh_statistics(*{staged.target for staged in staged_tables})
        return counts

    def _merge_one(
        self,
        staged: StagedTable,
        owners: list[ir.Table],
        between_steps: Callable[[str], None] | None,
        recorder: ChangeRecorder | None = None,
    ) -> MergeCounts:
        """Upsert one staged table; the customers its changes touch go into ``owners``."""
        owner = _OWNER.get(staged.target)
        told = recorder if staged.target == SUBSCRIPTIONS else None
        if not self._stores_any(staged.target):
            # Nothing stored yet in this scope: every staged row is new, no join needed.
            if owner is not None and staged.rows:
                owners.append(staged.table.select(customer_id=staged.table[owner]))
                if told is not None:
                    told.before(owners[-1].distinct())
            self._insert(staged, staged.table, between_steps)
            return MergeCounts(inserted=staged.rows)
        classified = self._classified(staged)
        tally = self.warehouse.to_pyarrow(classified.group_by(ACTION).agg(n=classified.count()))
        by_action = dict(zip(tally[ACTION].to_pylist(), tally["n"].to_pylist(), strict=True))
        counts = MergeCounts(
            inserted=int(by_action.get("inserted", 0)),
            updated=int(by_action.get("updated", 0)),
            unchanged=int(by_action.get("unchanged", 0)),
        )
        if owner is not None and (counts.inserted or counts.updated):
            owners.append(self._changed_owners(classified, owner))
            if told is not None:
                told.before(owners[-1])
        if counts.updated:
            updated = classified.filter(classified[ACTION] == "updated").select(*staged.key)
            self.warehouse.delete_matching(staged.target, self.scope, staged.key, updated)
        if between_steps:
            between_steps(f"{staged.target}:deleted")
        if counts.inserted or counts.updated:
            # Re-evaluated after the delete: updated rows now read as new, unchanged stay out.
            changed = classified.filter(classified[ACTION] != "unchanged")
            self._insert(staged, changed, between_steps)
        elif between_steps:
            between_steps(f"{staged.target}:inserted")
        return counts

    def _insert(
        self, staged: StagedTable, rows: ir.Table, between_steps: Callable[[str], None] | None
    ) -> None:
        self.warehouse.insert_expr(
            staged.target,
            rows.select(
                org_id=ibis.literal(self.scope.org_id),
                livemode=ibis.literal(self.scope.livemode),
                **{c: rows[c] for c in staged.table.columns if c != ROW},
            ),
        )
        if between_steps:
            between_steps(f"{staged.target}:inserted")

    def _changed_owners(self, classified: ir.Table, owner: str) -> ir.Table:
        """The customers of the changed rows, before and after (a subscription moved to
        another customer changes both), kept in a temp table before the rows are
        replaced: the classification reads the stored rows."""
        changed = classified.filter(classified[ACTION] != "unchanged")
        ids = changed.select(customer_id=changed[owner])
        if _WAS in changed.columns:
            was = changed.filter(changed[_WAS].notnull()).select(customer_id=changed[_WAS])
            ids = ids.union(was)
        name = f"_cohortd_stage_{self.token}_owners_{len(self.scratch)}"
        self.scratch.append(name)
        return self.warehouse.create_temp_table(name, ids)

    def _classified(self, staged: StagedTable) -> ir.Table:
        """Each staged row with ``_action``: inserted, updated or unchanged (null-safe
        compare), and ``_was``: the stored row's customer (subscriptions only)."""
        new = staged.table
        old = scoped(self.warehouse, staged.target, self.scope)
        joined = new.left_join(old, [new[k] == old[k] for k in staged.key])
        values = [c for c in new.columns if c not in (ROW, *staged.key)]
        same = ibis.literal(True)
        for column in values:
            same = same & joined[column].identical_to(joined[f"{column}_right"])
        exists = joined[f"{staged.key[0]}_right"].notnull()
        action = ibis.cases((~exists, "inserted"), (same, "unchanged"), else_="updated")
        extra = {ACTION: action}
        if staged.target == SUBSCRIPTIONS:
            extra[_WAS] = joined["customer_id_right"]
        return joined.select(*new.columns, **extra)

    def drop(self) -> None:
        for staged in self.tables.values():
            if staged.view:
                self.warehouse.drop_files_view(staged.name)
            else:
                self.warehouse.drop_temp_table(staged.name)
        for name in self.scratch:
            self.warehouse.drop_temp_table(name)
        self.tables.clear()
        self.scratch.clear()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _findings(
        self,
        rows: ir.Table,
        *,
        value: ir.Value,
        reason_of: Callable[[dict[str, object]], str],
        limit: int,
    ) -> list[RowFinding]:
        shown = rows.mutate(_value=value).order_by(ROW).limit(limit)
        records = self.warehouse.to_pyarrow(shown).to_pylist()
        return [RowFinding(int(r[ROW]), str(r["_value"]), reason_of(r)) for r in records]

    def _stores_any(self, target: str) -> bool:
        """Whether the scope has any row in ``target`` yet (one row read at most)."""
        stored = scoped(self.warehouse, target, self.scope)
        return int(self.warehouse.execute(stored.limit(1).count())) > 0

    def _count(self, rows: ir.Table) -> int:
        return int(self.warehouse.execute(rows.count()))


def _union(tables: list[ir.Table]) -> ir.Table | None:
    """The distinct ``customer_id`` of ``tables`` (``None`` when there are none)."""
    if not tables:
        return None
    return tables[0].union(*tables[1:], distinct=True) if tables[1:] else tables[0].distinct()


def _key_text(table: ir.Table, key: Sequence[str]) -> ir.StringValue:
    parts = [table[k].cast("string") for k in key]
    text = parts[0]
    for part in parts[1:]:
        text = text + ibis.literal("/") + part
    return text
