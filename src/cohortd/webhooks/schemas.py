"""Request and response bodies of destinations, deliveries and replays (SPEC §7)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from cohortd.api.schemas import ReadSchema, Schema
from cohortd.events.envelope import known_pattern
from cohortd.webhooks.models import PiiMode

Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(max_length=1000)]


def _known_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    for item in value:
        if not known_pattern(item):
            raise ValueError(f"unknown event type '{item}'")
    return list(dict.fromkeys(value))


class DestinationCreate(Schema):
    url: Url
    event_types: list[str] | None = Field(
        default=None, description="Exact types or 'family.*'; omitted = every type."
    )
    pii_mode: PiiMode = PiiMode.full
    description: Description | None = None
    schema_version: Literal["v1"] = "v1"

    _types = field_validator("event_types")(_known_types)


class DestinationUpdate(Schema):
    url: Url | None = None
    event_types: list[str] | None = None
    pii_mode: PiiMode | None = None
    description: Description | None = None
    schema_version: Literal["v1"] | None = None
    disabled: Literal[False] | None = Field(
        default=None, description="false re-enables a disabled destination."
    )

    _types = field_validator("event_types")(_known_types)


class Destination(ReadSchema):
    id: str
    object: Literal["destination"] = "destination"
    livemode: bool
    url: str
    event_types: list[str] | None
    pii_mode: PiiMode
    description: str | None
    schema_version: str
    disabled: bool
    disabled_reason: str | None
    secret_rotation_ends_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class DestinationWithSecret(Destination):
    signing_secret: str = Field(description="Shown this once; store it now.")


class RotateSecret(Schema):
    grace_hours: int = Field(default=24, ge=0, le=168)


class DestinationDeleted(ReadSchema):
    id: str
    object: Literal["destination"] = "destination"
    livemode: bool
    deleted: Literal[True] = True


class Delivery(ReadSchema):
    id: str
    object: Literal["delivery"] = "delivery"
    livemode: bool
    destination_id: str
    event_id: str
    attempt: int = Field(description="This attempt's number: 1 for the first, then each retry.")
    status: str = Field(
        description="pending (not made yet; due at next_attempt_at), succeeded, failed "
        "(next_attempt_at: when the retry is due, null when none follows) or cancelled"
    )
    response_status: int | None
    duration_ms: int | None
    error: str | None
    response_body: str | None = Field(description="The answer, cut to 2 KB.")
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    replay_id: str | None
    created_at: datetime


class TestSent(ReadSchema):
    object: Literal["destination_test"] = "destination_test"
    event_id: str
    delivery_id: str


class DedupeStrategy(StrEnum):
    skip_existing = "skip_existing"
    force_redeliver = "force_redeliver"


class ReplayCreate(Schema):
    destination_id: str
    event_types: list[str] | None = None
    from_: datetime = Field(alias="from")
    to: datetime
    dedupe_strategy: DedupeStrategy = DedupeStrategy.skip_existing

    _types = field_validator("event_types")(_known_types)


class Replay(ReadSchema):
    id: str
    object: Literal["replay"] = "replay"
    livemode: bool
    destination_id: str
    event_types: list[str] | None
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    dedupe_strategy: DedupeStrategy
    status: str
    event_count: int
    delivered_count: int
    failed_count: int
    pending_count: int
    created_at: datetime
    completed_at: datetime | None
