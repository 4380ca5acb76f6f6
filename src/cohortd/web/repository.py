"""Every control-plane statement about dashboard sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cohortd.keys import repository as keys_repository
from cohortd.keys.models import ApiKey
from cohortd.web.models import WebSession


def find_by_token_hash(session: Session, token_hash: str) -> WebSession | None:
    return session.scalars(select(WebSession).where(WebSession.token_hash == token_hash)).first()


def add(session: Session, row: WebSession) -> WebSession:
    session.add(row)
    session.flush()
    return row


def remove(session: Session, row: WebSession) -> None:
    session.delete(row)
    session.flush()


def remove_expired(session: Session, *, now: datetime) -> None:
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))


def keys_newest_first(session: Session, *, org_id: str, livemode: bool) -> list[ApiKey]:
    """Every key of one organization and mode, for the Keys page (a handful per org)."""
    stmt = keys_repository.keys_query(org_id=org_id, livemode=livemode)
    return list(session.scalars(stmt.order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))
