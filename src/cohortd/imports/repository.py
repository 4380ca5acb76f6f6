"""Every control-plane statement about import jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cohortd.imports.models import ImportJob


def add_job(session: Session, job: ImportJob) -> None:
    session.add(job)
    session.flush()


def get_job(session: Session, *, org_id: str, livemode: bool, job_id: str) -> ImportJob | None:
    return session.scalars(
        select(ImportJob).where(
            ImportJob.id == job_id, ImportJob.org_id == org_id, ImportJob.livemode == livemode
        )
    ).first()


def get_job_by_id(session: Session, job_id: str) -> ImportJob | None:
    return session.get(ImportJob, job_id)


def jobs_query(*, org_id: str, livemode: bool) -> Select[Any]:
    return select(ImportJob).where(ImportJob.org_id == org_id, ImportJob.livemode == livemode)
