"""API schemas of keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from cohortd.api.schemas import ReadSchema, Schema
from cohortd.keys.models import ApiKey, Role
from cohortd.keys.secrets import masked


class ApiKeyCreate(Schema):
    role: Role = Role.developer
    name: str | None = Field(default=None, max_length=200)


class ApiKeyRotate(Schema):
    grace_period_seconds: int = Field(
        default=0, ge=0, le=30 * 24 * 3600, description="How long the old secret keeps working."
    )


class ApiKeyRead(ReadSchema):
    id: str
    object: Literal["api_key"] = "api_key"
    livemode: bool
    role: Role
    name: str | None
    masked_secret: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyRead:
        return cls(
            id=key.id,
            livemode=key.livemode,
            role=Role(key.role),
            name=key.name,
            masked_secret=masked(key.livemode, key.last4),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            expires_at=key.expires_at,
        )


class ApiKeyWithSecret(ApiKeyRead):
    secret: str = Field(description="Shown once; store it now.")
