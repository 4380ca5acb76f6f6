"""The base of every API model: unknown fields kept, the wire's names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """Base of every API object: unknown fields are kept, names are the wire's."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
