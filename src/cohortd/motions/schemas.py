"""Motion API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints, field_validator

from cohortd.api.schemas import ReadSchema, Schema
from cohortd.motions.models import MotionStatus, MotionType

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class MotionCreate(Schema):
    type: MotionType
    cohort_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    name: Name | None = None
    status: MotionStatus = MotionStatus.draft


class MotionUpdate(Schema):
    """Applied with ``exclude_unset``."""

    status: MotionStatus | None = None
    name: Name | None = None

    @field_validator("status")
    @classmethod
    def _status_not_null(cls, value: MotionStatus | None) -> MotionStatus:
        if value is None:
            raise ValueError("status may be omitted but not null")
        return value


class Motion(ReadSchema):
    id: str
    object: Literal["motion"] = "motion"
    livemode: bool
    name: str | None
    type: MotionType
    status: MotionStatus
    cohort_id: str | None
    created_at: datetime
    updated_at: datetime
