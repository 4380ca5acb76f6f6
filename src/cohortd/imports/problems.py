"""Import problems: where (file, row, column), what value, and why. Emails are never echoed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

MAX_REPORTED: Final = 100
_MAX_VALUE_CHARS: Final = 120
_EMAIL_LIKE: Final = re.compile(r"[^@\s]+@[^@\s]+")
EMAIL_MASK: Final = "***@***"


def mask_value(value: str | None, *, column: str | None = None) -> str | None:
    """The value as an error may show it: emails (in any column) masked, long values cut."""
    if value is None:
        return None
    if column == "email" or _EMAIL_LIKE.search(value):
        return EMAIL_MASK
    if len(value) > _MAX_VALUE_CHARS:
        return value[:_MAX_VALUE_CHARS] + "…"
    return value


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One problem. ``row`` is None for a file-level problem (bad format, empty file...)."""

    file: str
    kind: str
    row: int | None
    column: str | None
    value: str | None
    reason: str

    @classmethod
    def at(
        cls,
        *,
        file: str,
        kind: str,
        row: int | None,
        column: str | None,
        value: str | None,
        reason: str,
    ) -> ImportProblem:
        """A problem whose ``value`` is masked before it is kept anywhere."""
        return cls(file, kind, row, column, mask_value(value, column=column), reason)

    def sort_key(self) -> tuple[int, str]:
        return (self.row or 0, self.column or "")

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "reason": self.reason,
        }


class FileProblem(Exception):
    """A whole file cannot be used (not what it claims, empty, bad header or structure).

    ``items`` are ``(row, column, reason)``; the whole import fails, even with ``on_error=skip``.
    """

    def __init__(self, reason: str, *, column: str | None = None, row: int | None = None) -> None:
        super().__init__(reason)
        self.items: list[tuple[int | None, str | None, str]] = [(row, column, reason)]

    @classmethod
    def many(cls, items: list[tuple[int | None, str | None, str]]) -> FileProblem:
        problem = cls(items[0][2], row=items[0][0], column=items[0][1])
        problem.items = list(items)
        return problem
