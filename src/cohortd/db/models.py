"""Every control-plane model, imported so that Alembic and create_all see them all."""

from cohortd.db import Base
from cohortd.idempotency.models import IdempotencyRecord
from cohortd.keys.models import ApiKey, Organization

__all__ = ["ApiKey", "Base", "IdempotencyRecord", "Organization"]
