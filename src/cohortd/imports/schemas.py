"""Import and exchange-rate API schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from cohortd.api.schemas import ReadSchema, Schema
from cohortd.imports.models import ImportStatus
from cohortd.imports.pipeline import OnError


class ImportProblemOut(ReadSchema):
    """One problem: ``row`` as a spreadsheet numbers it (null for a whole-file problem)."""

    file: str | None = Field(description="The file's name; null when the whole job failed.")
    kind: str | None
    row: int | None
    column: str | None
    value: str | None = Field(description="The cell as given; an email is always masked.")
    reason: str


class KindCountsOut(ReadSchema):
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


class ImportJobOut(ReadSchema):
    id: str
    object: Literal["import"] = "import"
    livemode: bool
    status: ImportStatus
    on_error: OnError
    files: dict[str, str] = Field(description="kind -> the uploaded file's name")
    counts: dict[str, KindCountsOut]
    errors: list[ImportProblemOut] = Field(description="The first 100 problems.")
    error_count: int = Field(description="Every problem found, reported or not.")
    created_at: datetime
    completed_at: datetime | None


Currency = Annotated[str, StringConstraints(min_length=1, max_length=10)]


class ExchangeRateIn(Schema):
    """Units of ``currency`` per 1 EUR on ``date`` (the ECB convention)."""

    date: date
    currency: Currency
    rate: Decimal | str


class ExchangeRate(ReadSchema):
    id: str = Field(description="'<date>:<currency>', the paging cursor")
    object: Literal["exchange_rate"] = "exchange_rate"
    livemode: bool
    date: date
    currency: str
    rate: str = Field(description="Exact decimal, as a string")


class ExchangeRatesWritten(ReadSchema):
    object: Literal["exchange_rate_import"] = "exchange_rate_import"
    livemode: bool
    counts: KindCountsOut
