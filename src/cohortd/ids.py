"""Object ids: a type prefix plus a ULID, so ids sort by creation time."""

from __future__ import annotations

from ulid import ULID


def new_id(prefix: str) -> str:
    """``prefix_`` + a new ULID, e.g. ``cohort_01J...``."""
    return f"{prefix}_{ULID()}"
