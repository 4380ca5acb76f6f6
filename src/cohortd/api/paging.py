"""One cursor paging helper for every list (SPEC §5).

The cursor is an item's id. Ids sort lexicographically and ULID ids in creation order, so
a page boundary never moves when rows are inserted concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

import ibis.expr.types as ir
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from cohortd.errors import InvalidParameter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int = 50
    starting_after: str | None = None
    ending_before: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page, 1-100.")] = 50,
    starting_after: Annotated[str | None, Query(description="Cursor: items after this id.")] = None,
    ending_before: Annotated[str | None, Query(description="Cursor: items before this id.")] = None,
) -> PageParams:
    if starting_after and ending_before:
        raise InvalidParameter("ending_before", "give starting_after or ending_before, not both")
    return PageParams(limit=limit, starting_after=starting_after, ending_before=ending_before)


PageDep = Annotated[PageParams, Depends(page_params)]


class ListResource(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    next_cursor: str | None


def _finish(items: list[Any], page: PageParams, key: Any) -> Page[Any]:
    has_more = len(items) > page.limit
    items = items[: page.limit]
    if page.ending_before:
        items.reverse()
    next_cursor = key(items[-1]) if has_more and items and not page.ending_before else None
    if page.ending_before and has_more and items:
        next_cursor = key(items[0])
    return Page(items=items, has_more=has_more, next_cursor=next_cursor)


def paginate_select(
    session: Session, stmt: Select[Any], id_column: Any, page: PageParams
) -> Page[Any]:
    """Page an ORM ``select`` ordered by ``id_column`` (ascending)."""
    if page.starting_after:
        stmt = stmt.where(id_column > page.starting_after)
    if page.ending_before:
        stmt = stmt.where(id_column < page.ending_before).order_by(id_column.desc())
    else:
        stmt = stmt.order_by(id_column.asc())
    rows = list(session.scalars(stmt.limit(page.limit + 1)))
    return _finish(rows, page, key=lambda row: getattr(row, id_column.key))


def paginate_table(
    warehouse: Any, table: ir.Table, page: PageParams, *, key: str = "id"
) -> Page[dict[str, Any]]:
    """Page a data-plane Ibis table ordered by ``key`` (ascending); rows come back as dicts."""
    column = table[key]
    if page.starting_after:
        table = table.filter(column > page.starting_after)
    if page.ending_before:
        table = table.filter(column < page.ending_before).order_by(column.desc())
    else:
        table = table.order_by(column.asc())
    rows = warehouse.to_pyarrow(table.limit(page.limit + 1)).to_pylist()
    return _finish(rows, page, key=lambda row: row[key])


def paginate_select_newest_first(
    session: Session, stmt: Select[Any], id_column: Any, page: PageParams
) -> Page[Any]:
    """Page an ORM ``select`` newest first (``id_column`` descending; ULID ids sort by
    creation time): ``starting_after`` gives older items, ``ending_before`` newer ones."""
    if page.starting_after:
        stmt = stmt.where(id_column < page.starting_after)
    if page.ending_before:
        stmt = stmt.where(id_column > page.ending_before).order_by(id_column.asc())
    else:
        stmt = stmt.order_by(id_column.desc())
    rows = list(session.scalars(stmt.limit(page.limit + 1)))
    return _finish(rows, page, key=lambda row: getattr(row, id_column.key))
