"""Warm the report path when a server starts, so the first view is as fast as the next.

The first report a process answers pays one-off costs: the ECB history read into memory
(``engine.fx``), the report's SQL built and compiled (``engine.compiled``), the factors
computed, and the derived tables of an import whose own catch-up never ran (a process
that died after the import's commit: ``engine.derived.catch_up``). ``warm`` pays them in
a background thread at start-up: the ECB history and the pending catch-ups for every
server, and the default report (``interval=month``, today, the organization's base
currency, test mode: what the dashboard shows first) of the demo organization when the
data dir holds one (``cohortd demo`` writes ``demo.json``). Nothing else is precomputed:
answers are never cached, only the work that does not depend on the data."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from cohortd.config import Settings, demo_org_id
from cohortd.engine import derived, fx
from cohortd.keys.models import Organization
from cohortd.reports.service import ReportParams, cohort_report, parse_query
from cohortd.warehouse import Scope, Warehouse

log = logging.getLogger("cohortd.warm")


def warm(settings: Settings, sessions: Callable[[], Session], warehouse: Warehouse) -> None:
    """Pay the one-off costs of the first report now (errors are logged, never raised)."""
    try:
        fx.warm(warehouse)
        # an import whose catch-up a dead process never ran: now, not at the first report
        if derived.catch_up_everywhere(warehouse):
            log.info("derived tables caught up after a previous process's imports")
        org_id = demo_org_id(settings)
        if org_id is None:
            return
        with sessions() as session:
            org = session.get(Organization, org_id)
            base = org.base_currency if org is not None else None
        if base is None:
            return
        query, fmt = parse_query(ReportParams(interval="month"), default_currency=base)
        cohort_report(
            warehouse,
            Scope(org_id, livemode=False),
            query,
            fmt,
            max_cells=settings.report_max_cells,
            timeout_seconds=settings.query_timeout_seconds,
        )
        log.info("report path warmed", extra={"org_id": org_id})
    except Exception:  # a warm-up must never stop a server
        log.warning("warming the report path failed", exc_info=True)


def start(
    settings: Settings, sessions: Callable[[], Session], warehouse: Warehouse
) -> threading.Thread:
    """``warm`` in a daemon thread (the server accepts requests meanwhile)."""
    thread = threading.Thread(
        target=warm, args=(settings, sessions, warehouse), name="cohortd-warm", daemon=True
    )
    thread.start()
    return thread
