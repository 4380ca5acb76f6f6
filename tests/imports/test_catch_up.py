"""The derived tables after an import (``engine.derived``: ``mark_stale`` / ``catch_up``).

The import's transaction records which customers changed; the tables are refreshed
right after the commit (the job does it) or, when that did not happen or has not
finished, by the next report of the scope before it reads them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cohortd.engine import derived
from cohortd.imports import service
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import run_import
from cohortd.warehouse import Scope, Warehouse, connect
from cohortd.warehouse.tables import CUSTOMER_FACTS, DERIVED_PENDING
from tests.fixtures.example_small import SMALL, base_currency, expected
from tests.imports.helpers import (
    assert_derived_true,
    backend_url,
    derived_snapshot,
    each_backend,
    run_killed,
    stored,
)
from tests.reports.helpers import differences
from tests.reports.helpers import run as report

EXPECTED = expected()
_FILES = (
    (ImportKind.customers, "customers.csv"),
    (ImportKind.subscriptions, "subscriptions.csv"),
    (ImportKind.exchange_rates, "fx_rates.csv"),
)


def _import_small(warehouse: Warehouse, scope: Scope, folder: Path = SMALL) -> None:
    sources = [ImportSource(kind, folder / name, name) for kind, name in _FILES]
    assert run_import(warehouse, scope, sources).succeeded


def _pending(warehouse: Warehouse, scope: Scope) -> list[str | None]:
    return sorted(
        (r["customer_id"] for r in stored(warehouse, scope, DERIVED_PENDING)),
        key=lambda c: c or "",
    )


def _assert_monthly_is_right(warehouse: Warehouse, scope: Scope) -> None:
    url, want = EXPECTED["monthly"]
    assert differences(report(warehouse, scope, url, base=base_currency()), want) == []


def test_the_import_records_its_changes_and_the_next_report_catches_up(
    warehouse: Warehouse, new_scope
) -> None:
    scope = new_scope()
    _import_small(warehouse, scope)
    # committed data, derived rows not yet made: a first import marks the whole scope
    assert len(stored(warehouse, scope, "customers")) == 300
    assert stored(warehouse, scope, CUSTOMER_FACTS) == []
    assert _pending(warehouse, scope) == [None]
    assert derived.stale(warehouse, scope)
    _assert_monthly_is_right(warehouse, scope)  # the report refreshed them first
    assert not derived.stale(warehouse, scope)
    assert_derived_true(warehouse, scope)
    assert derived.catch_up(warehouse, scope) is False  # nothing left to do


def test_a_reimport_records_only_the_customers_it_changed(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    _import_small(warehouse, scope)
    assert derived.catch_up(warehouse, scope) is True
    lines = (SMALL / "subscriptions.csv").read_text().splitlines()
    # sub_000000002 of cus_0000106: 18850.00 -> 18851.00 from 2021-03-28
    changed = [line.replace(",18850.00,", ",18851.00,") for line in lines]
    assert changed != lines
    (tmp_path / "subscriptions.csv").write_text("\n".join(changed) + "\n")
    source = ImportSource(ImportKind.subscriptions, tmp_path / "subscriptions.csv", "s.csv")
    outcome = run_import(warehouse, scope, [source])
    assert outcome.counts[ImportKind.subscriptions].updated == 1
    assert _pending(warehouse, scope) == ["cus_0000106"]
    before = derived_snapshot(warehouse, scope)
    assert derived.catch_up(warehouse, scope) is True
    assert derived_snapshot(warehouse, scope) != before  # the level moved by 100 cents
    assert_derived_true(warehouse, scope)


def test_an_unchanged_reimport_records_nothing(warehouse: Warehouse, new_scope) -> None:
    scope = new_scope()
    _import_small(warehouse, scope)
    derived.catch_up(warehouse, scope)
    _import_small(warehouse, scope)
    assert _pending(warehouse, scope) == []
    assert not derived.stale(warehouse, scope)


def test_a_failed_catch_up_loses_nothing(
    warehouse: Warehouse, new_scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = new_scope()
    _import_small(warehouse, scope)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(derived, "refresh", broken)
    service.prepare_reports(warehouse, scope)  # what the job runs: logs, does not raise
    assert _pending(warehouse, scope) == [None]  # rolled back with the failed refresh
    assert stored(warehouse, scope, CUSTOMER_FACTS) == []
    monkeypatch.undo()
    _assert_monthly_is_right(warehouse, scope)
    assert_derived_true(warehouse, scope)


KILLED_CATCH_UP = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from cohortd.engine import derived
    from cohortd.imports import service
    from cohortd.imports.columns import ImportKind
    from cohortd.imports.parsing import ImportSource
    from cohortd.imports.pipeline import run_import
    from cohortd.warehouse import Scope, connect

    url, org, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    kinds = {"customers.csv": ImportKind.customers, "subscriptions.csv":
             ImportKind.subscriptions, "fx_rates.csv": ImportKind.exchange_rates}
    warehouse, scope = connect(url), Scope(org, False)
    sources = [ImportSource(kind, folder / name, name) for name, kind in kinds.items()]
    assert run_import(warehouse, scope, sources).succeeded
    real = derived.refresh

    def die(*args, **kwargs):
        real(*args, **kwargs)  # the refresh done, its transaction not committed
        os.kill(os.getpid(), signal.SIGKILL)

    derived.refresh = die
    service.prepare_reports(warehouse, scope)
    """
)


@each_backend
def test_a_process_killed_while_catching_up_leaves_the_work_to_the_next_report(
    new_scope, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    scope = new_scope()
    url = backend_url(backend, tmp_path, request)
    connect(url).close()  # the schema and the ECB rates, made before the child starts
    run_killed(KILLED_CATCH_UP, url, scope.org_id, str(SMALL))
    warehouse = connect(url)
    try:
        assert len(stored(warehouse, scope, "customers")) == 300  # the import committed
        assert _pending(warehouse, scope) == [None]
        assert stored(warehouse, scope, CUSTOMER_FACTS) == []
        _assert_monthly_is_right(warehouse, scope)
        assert_derived_true(warehouse, scope)
    finally:
        warehouse.close()


def test_a_subscription_moved_to_another_customer_refreshes_both(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    _import_small(warehouse, scope)
    derived.catch_up(warehouse, scope)
    lines = (SMALL / "subscriptions.csv").read_text().splitlines()
    moved = [
        line.replace("sub_000000002,cus_0000106,", "sub_000000002,cus_0000222,") for line in lines
    ]
    assert moved != lines
    (tmp_path / "subscriptions.csv").write_text("\n".join(moved) + "\n")
    source = ImportSource(ImportKind.subscriptions, tmp_path / "subscriptions.csv", "s.csv")
    assert run_import(warehouse, scope, [source]).counts[ImportKind.subscriptions].updated == 1
    # the customer it left and the one it joined
    assert _pending(warehouse, scope) == ["cus_0000106", "cus_0000222"]
    assert_derived_true(warehouse, scope)
