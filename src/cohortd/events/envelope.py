"""Event types, the envelope of SPEC §7, its PII modes, and event ids.

The envelope is built once, when the event is recorded, and stored as JSON text; a
delivery body is that envelope after the destination's PII mode, serialised the same way
every time (key order as built, compact separators), so every attempt and replay of an
event to one destination sends the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Final

from ulid import ULID

SCHEMA_VERSION: Final = "v1"

EVENT_TYPES: Final = (
    "subscription.activated",
    "subscription.upgraded",
    "subscription.downgraded",
    "subscription.cancelled",
    "subscription.reactivated",
    "cohort.created",
    "cohort.updated",
    "cohort.deleted",
    "cohort.members_changed",
    "anomaly.detected",
    "import.completed",
    "import.failed",
    "snapshot_run.completed",
    "destination.test",
)
FAMILIES: Final = frozenset(t.split(".")[0] for t in EVENT_TYPES)


def known_pattern(pattern: str) -> bool:
    """An exact v1 type, or ``family.*`` of a known family."""
    if pattern.endswith(".*"):
        return pattern[:-2] in FAMILIES
    return pattern in EVENT_TYPES


def matches(patterns: list[str] | None, event_type: str) -> bool:
    """Whether ``event_type`` is selected by ``patterns`` (``None``: every type)."""
    if patterns is None:
        return True
    family = event_type.split(".")[0]
    return any(p == event_type or p == f"{family}.*" for p in patterns)


def expand(patterns: list[str]) -> list[str]:
    """The exact types ``patterns`` select (for database filters)."""
    return [t for t in EVENT_TYPES if matches(patterns, t)]


def event_id_at(created_at: datetime, *identity: str) -> str:
    """``evt_`` + a ULID whose time is ``created_at`` and whose randomness is a hash of
    ``identity``: the same change recorded twice gets the same id (a relay re-run never
    duplicates). Without ``identity`` the id is random."""
    millis = int(created_at.timestamp() * 1000)
    if not identity:
        return f"evt_{ULID.from_timestamp(millis / 1000)}"
    tail = hashlib.sha256("\x1f".join(identity).encode()).digest()[:10]
    return f"evt_{ULID.from_bytes(millis.to_bytes(6, 'big') + tail)}"


def timestamp(moment: datetime) -> str:
    """UTC with milliseconds and ``Z`` (SPEC §7)."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def envelope(
    *,
    event_id: str,
    event_type: str,
    created_at: datetime,
    livemode: bool,
    tenant: dict[str, str],
    data: dict[str, Any],
    subscriber: dict[str, Any] | None = None,
    subscription: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The envelope, fields in the order of SPEC §7."""
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "schema_version": SCHEMA_VERSION,
        "created_at": timestamp(created_at),
        "livemode": livemode,
        "tenant": tenant,
        "subscriber": subscriber,
        "subscription": subscription,
        "data": data,
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str)


def body_for(stored: str, pii_mode: str) -> bytes:
    """The delivery body of a stored envelope under ``pii_mode`` (full, hashed_only,
    minimal): deterministic, so byte-identical on every attempt and replay."""
    document = json.loads(stored)
    if pii_mode != "full":
        subscriber = document.get("subscriber")
        if isinstance(subscriber, dict):
            subscriber.pop("email", None)
            if pii_mode == "minimal":
                subscriber.pop("email_hashed", None)
                subscriber.pop("created_at", None)
        hidden = {"email"} if pii_mode == "hashed_only" else {"email", "email_hashed"}
        document["data"] = _without(document.get("data"), hidden)
    return dumps(document).encode()


def _without(value: Any, hidden: set[str]) -> Any:
    """``value`` with every key in ``hidden`` removed, at any depth."""
    if isinstance(value, dict):
        return {k: _without(v, hidden) for k, v in value.items() if k not in hidden}
    if isinstance(value, list):
        return [_without(v, hidden) for v in value]
    return value
