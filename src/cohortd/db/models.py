"""Every control-plane model, imported so that Alembic and create_all see them all."""

from cohortd.cohorts.models import Cohort
from cohortd.db import Base
from cohortd.idempotency.models import IdempotencyRecord
from cohortd.keys.models import ApiKey, Organization
from cohortd.motions.models import Motion
from cohortd.web.models import WebSession

__all__ = ["ApiKey", "Base", "Cohort", "IdempotencyRecord", "Motion", "Organization", "WebSession"]
