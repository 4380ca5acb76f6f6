"""Base classes of API schemas: unknown fields are rejected (422 naming them), and so is
text no database takes (a NUL character, a lone surrogate) anywhere in a request body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def has_bad_text(value: Any) -> bool:
    """True if ``value`` (a JSON value) holds a string with NUL or a lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_bad_text(k) or has_bad_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_bad_text(item) for item in value)
    return False


class Schema(BaseModel):
    """Request bodies: strict about unknown fields and about text."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        if has_bad_text(value):
            raise ValueError("holds a NUL character or a lone surrogate")
        return value


class ReadSchema(BaseModel):
    """Response objects."""

    model_config = ConfigDict(from_attributes=True)
