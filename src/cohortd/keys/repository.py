"""Every control-plane statement about organizations and keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cohortd.keys.models import ApiKey, Organization


def get_organization(session: Session, org_id: str) -> Organization | None:
    return session.get(Organization, org_id)


def find_key_by_hash(session: Session, secret_hash: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.secret_hash == secret_hash)).first()


def get_key(session: Session, *, org_id: str, livemode: bool, key_id: str) -> ApiKey | None:
    return session.scalars(
        select(ApiKey).where(
            ApiKey.id == key_id, ApiKey.org_id == org_id, ApiKey.livemode == livemode
        )
    ).first()


def keys_query(*, org_id: str, livemode: bool):  # type: ignore[no-untyped-def]
    return select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.livemode == livemode)
