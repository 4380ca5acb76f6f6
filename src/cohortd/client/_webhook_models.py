"""Events, webhook destinations, deliveries and replays (SPEC §7) as Pydantic models
(re-exported by ``cohortd.client.models``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from cohortd.client._models_base import ApiModel


class Event(ApiModel):
    id: str
    object: str = "event"
    type: str
    schema_version: str = "v1"
    created_at: datetime
    livemode: bool
    tenant: dict[str, Any] | None = None
    subscriber: dict[str, Any] | None = None
    subscription: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Destination(ApiModel):
    id: str
    object: str = "destination"
    livemode: bool
    url: str
    event_types: list[str] | None = None
    pii_mode: str = "full"
    description: str | None = None
    schema_version: str = "v1"
    disabled: bool = False
    disabled_reason: str | None = None
    created_at: datetime | None = None


class DestinationWithSecret(Destination):
    """A destination as created or rotated: ``signing_secret`` is shown this once."""

    signing_secret: str


class Delivery(ApiModel):
    id: str
    object: str = "delivery"
    event_id: str
    attempt: int
    status: str
    response_status: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    response_body: str | None = None
    next_attempt_at: datetime | None = None


class Replay(ApiModel):
    id: str
    object: str = "replay"
    status: str
    event_count: int | None = None
