"""Every control-plane model, imported so that Alembic and create_all see them all."""

from cohortd.cohorts.models import Cohort
from cohortd.db import Base
from cohortd.events.models import Event
from cohortd.idempotency.models import IdempotencyRecord
from cohortd.imports.models import ImportJob
from cohortd.intelligence.models import Anomaly, AnomalySettings, CohortRecording, SnapshotRun
from cohortd.keys.models import ApiKey, Organization
from cohortd.motions.models import Motion
from cohortd.web.models import WebSession
from cohortd.webhooks.models import Delivery, Destination, Replay

__all__ = [
    "Anomaly",
    "AnomalySettings",
    "ApiKey",
    "Base",
    "Cohort",
    "CohortRecording",
    "Delivery",
    "Destination",
    "Event",
    "IdempotencyRecord",
    "ImportJob",
    "Motion",
    "Organization",
    "Replay",
    "SnapshotRun",
    "WebSession",
]
