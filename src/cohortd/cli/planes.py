"""Both planes for one CLI command, opened from the settings and closed after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from cohortd.config import get_settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.warehouse import Warehouse, connect


@contextmanager
def open_planes() -> Iterator[tuple[Session, Warehouse]]:
    """A control-plane session (committed on success) and the warehouse."""
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    warehouse = connect(settings.resolved_warehouse_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session, warehouse
            session.commit()
    finally:
        warehouse.close()
        engine.dispose()
