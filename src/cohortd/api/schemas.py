"""Base classes of API schemas: unknown fields are rejected (422 naming them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """Request bodies: strict about unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ReadSchema(BaseModel):
    """Response objects."""

    model_config = ConfigDict(from_attributes=True)
