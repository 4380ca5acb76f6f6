"""Cohort API schemas by role: ``CohortCreate``, ``CohortUpdate``, ``Cohort`` (SPEC §3)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from cohortd.api.schemas import ReadSchema, Schema
from cohortd.engine import membership
from cohortd.engine.customer_state import CustomerStatus

MAX_LIST_ITEMS = 1_000

Token = Annotated[str, StringConstraints(min_length=1, max_length=255)]
TokenList = Annotated[list[Token], Field(max_length=MAX_LIST_ITEMS)]


class CohortType(StrEnum):
    custom = "custom"
    vintage = "vintage"
    segment = "segment"
    territory = "territory"
    rep = "rep"


class CohortDefinition(Schema):
    """Recurr's ``CohortDefinition`` plus SPEC §3's lists and creation dates.

    Every field is optional; an absent field or an empty list constrains nothing.
    """

    status: Annotated[list[CustomerStatus], Field(max_length=MAX_LIST_ITEMS)] | None = None
    tenure_days_min: Annotated[int, Field(ge=0)] | None = None
    tenure_days_max: Annotated[int, Field(ge=0)] | None = None
    plan_ids: TokenList | None = None
    tags_include: TokenList | None = None
    tags_exclude: TokenList | None = None
    engagement_score_min: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None, description="Customer-provided engagement signal threshold (0.0-1.0)."
    )
    countries: TokenList | None = None
    currencies: TokenList | None = None
    industries: TokenList | None = None
    channels: TokenList | None = None
    sizes: TokenList | None = None
    segments: TokenList | None = None
    territories: TokenList | None = None
    owner_ids: TokenList | None = None
    created_from: datetime | None = Field(default=None, description="created_at ≥ this (UTC).")
    created_before: datetime | None = Field(default=None, description="created_at < this (UTC).")

    # Declared after their lower bounds, so ``info.data`` holds the bound already checked.
    @field_validator("tenure_days_max")
    @classmethod
    def _max_not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("tenure_days_min")
        if value is not None and low is not None and value < low:
            raise ValueError("tenure_days_max must be greater than or equal to tenure_days_min")
        return value

    @field_validator("created_from", "created_before")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        # Naive timestamps are UTC; aware ones are converted, then kept naive UTC.
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    @field_validator("created_before")
    @classmethod
    def _window_not_empty(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("created_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("created_before must be after created_from")
        return value

    @field_serializer("created_from", "created_before", when_used="json")
    def _utc_text(self, value: datetime | None) -> str | None:
        # Kept naive UTC; shown as RFC 3339 with its zone, as the schema's date-time says.
        return (
            None if value is None else value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
        )

    def stored(self) -> dict[str, Any]:
        """The JSON kept in the control plane: only the fields that were given."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_engine(self) -> membership.CohortDefinition:
        """The engine's frozen definition (absent lists become empty tuples)."""
        values: dict[str, Any] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            values[name] = tuple(str(v) for v in value) if isinstance(value, list) else value
        return membership.CohortDefinition(**values)


class CohortCreate(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    definition: CohortDefinition


class CohortUpdate(Schema):
    """Applied with ``exclude_unset``; a given ``definition`` replaces the old one whole."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    definition: CohortDefinition | None = None

    @field_validator("name", "definition")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            raise ValueError(f"{info.field_name} may be omitted but not null")
        return value


class Cohort(ReadSchema):
    """The seed's ``Cohort`` plus ``object``, ``livemode`` and the Pillar grouping fields."""

    id: str = Field(examples=["cohort_01HQX..."])
    object: Literal["cohort"] = "cohort"
    livemode: bool
    name: str
    description: str | None
    definition: CohortDefinition
    member_count: int = Field(description="Exact number of members as of `as_of`.")
    as_of: str = Field(description="The day membership was evaluated on (YYYY-MM-DD).")
    used_by_motions: list[str] = Field(description="Active motions that reference this cohort.")
    cohort_type: CohortType
    grouping_field: str | None
    grouping_value: str | None
    created_at: datetime
    updated_at: datetime


class CohortDeleted(ReadSchema):
    """The answer to a delete (Stripe style)."""

    id: str
    object: Literal["cohort"] = "cohort"
    livemode: bool
    deleted: Literal[True] = True
