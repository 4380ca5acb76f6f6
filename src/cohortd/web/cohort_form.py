"""The cohort rule form: browser fields in, the API's ``CohortCreate`` out (and back).

Lists are typed as words separated by spaces or commas; the form keeps what was typed
when validation fails, with each problem next to its field (the API's 422 ``loc``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from cohortd.cohorts.schemas import CohortCreate, CohortDefinition
from cohortd.engine.customer_state import CustomerStatus

LIST_FIELDS: Final = (
    ("plan_ids", "Plans"),
    ("tags_include", "Has all tags"),
    ("tags_exclude", "Has none of the tags"),
    ("countries", "Countries"),
    ("currencies", "Currencies"),
    ("industries", "Industries"),
    ("channels", "Channels"),
    ("sizes", "Sizes"),
    ("segments", "Segments"),
    ("territories", "Territories"),
    ("owner_ids", "Owners (sales reps)"),
)
NUMBER_FIELDS: Final = (
    ("tenure_days_min", "Tenure at least (days)"),
    ("tenure_days_max", "Tenure at most (days)"),
    ("engagement_score_min", "Engagement score at least (0–1)"),
)
DATE_FIELDS: Final = (
    ("created_from", "Signed up on or after"),
    ("created_before", "Signed up before"),
)
STATUSES: Final = tuple(s.value for s in CustomerStatus)
_SPLIT = re.compile(r"[\s,]+")


@dataclass
class CohortForm:
    """What the browser sent, as typed, plus the problems found in it by field name."""

    values: dict[str, str] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str:
        return self.values.get(name, "")


def _definition_dict(form: CohortForm) -> dict[str, Any]:
    definition: dict[str, Any] = {}
    if form.statuses:
        definition["status"] = form.statuses
    for name, _ in LIST_FIELDS:
        tokens = [t for t in _SPLIT.split(form.value(name)) if t]
        if tokens:
            definition[name] = tokens
    for name, _ in (*NUMBER_FIELDS, *DATE_FIELDS):
        if form.value(name).strip():
            definition[name] = form.value(name).strip()
    return definition


def to_create(form: CohortForm) -> CohortCreate | None:
    """The API body, or None with ``form.errors`` filled (by the API's own validation)."""
    body = {
        "name": form.value("name").strip(),
        "description": form.value("description").strip() or None,
        "definition": _definition_dict(form),
    }
    try:
        return CohortCreate.model_validate(body)
    except ValidationError as error:
        for problem in error.errors():
            loc = [str(part) for part in problem["loc"]]
            name = loc[1] if loc[:1] == ["definition"] and len(loc) > 1 else loc[0]
            form.errors.setdefault(name, str(problem["msg"]).removeprefix("Value error, "))
        return None


def from_stored(name: str, description: str | None, definition: dict[str, Any]) -> CohortForm:
    """The form filled from a stored cohort (for editing)."""
    parsed = CohortDefinition.model_validate(definition)
    values = {"name": name, "description": description or ""}
    for key, _ in LIST_FIELDS:
        items = getattr(parsed, key)
        if items:
            values[key] = " ".join(items)
    for key, _ in NUMBER_FIELDS:
        number = getattr(parsed, key)
        if number is not None:
            values[key] = str(number)
    for key, _ in DATE_FIELDS:
        moment: datetime | None = getattr(parsed, key)
        if moment is not None:
            values[key] = moment.date().isoformat()
    return CohortForm(values=values, statuses=[str(s) for s in parsed.status or []])
