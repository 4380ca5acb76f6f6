"""Dashboard sign-in: an API key is exchanged for a server-side session.

The raw key is checked once (``keys.service.authenticate``) and then forgotten; the
session remembers the key's id per mode. Every request re-checks that key, so a revoked
or expired key signs the browser out of that mode at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from cohortd.api.deps import Principal
from cohortd.db import utcnow
from cohortd.ids import new_id
from cohortd.keys import repository as keys_repository
from cohortd.keys.models import Role
from cohortd.keys.service import authenticate
from cohortd.web import repository
from cohortd.web.models import WebSession

SESSION_LIFETIME: Final = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session as created or extended: ``token`` is set only when the cookie must change."""

    row: WebSession
    token: str | None


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at the dashboard: the principal of the mode on show, and its session."""

    principal: Principal
    csrf_token: str
    org_name: str
    has_test: bool
    has_live: bool

    @property
    def may_write(self) -> bool:
        return self.principal.role in (Role.admin, Role.developer)

    @property
    def is_admin(self) -> bool:
        return self.principal.role is Role.admin


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(a: str, b: str) -> bool:
    """Constant-time comparison of two CSRF tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


def sign_in(
    session: Session, secret: str, *, current: WebSession | None, now: datetime | None = None
) -> SignedIn | None:
    """Start a session with ``secret``, or add its mode to ``current`` (same organization).

    None when the key is malformed, unknown, revoked or expired.
    """
    who = authenticate(session, secret.strip(), now=now)
    if who is None:
        return None
    moment = now or utcnow()
    if current is not None and current.org_id == who.org_id and current.expires_at > moment:
        _attach(current, who.key_id, livemode=who.livemode)
        session.flush()
        return SignedIn(row=current, token=None)
    if current is not None:
        repository.remove(session, current)
    repository.remove_expired(session, now=moment)
    token = secrets.token_urlsafe(32)
    row = WebSession(
        id=new_id("wses"),
        token_hash=token_hash(token),
        csrf_token=secrets.token_urlsafe(32),
        org_id=who.org_id,
        livemode=who.livemode,
        created_at=moment,
        expires_at=moment + SESSION_LIFETIME,
    )
    _attach(row, who.key_id, livemode=who.livemode)
    return SignedIn(row=repository.add(session, row), token=token)


def _attach(row: WebSession, key_id: str, *, livemode: bool) -> None:
    if livemode:
        row.live_key_id = key_id
    else:
        row.test_key_id = key_id
    row.livemode = livemode


def find(session: Session, token: str | None, *, now: datetime | None = None) -> WebSession | None:
    """The unexpired session of a cookie token, if any."""
    if not token:
        return None
    row = repository.find_by_token_hash(session, token_hash(token))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return row


def viewer(session: Session, row: WebSession, *, now: datetime | None = None) -> Viewer | None:
    """The viewer of the session's current mode; falls back to the other mode when the
    current mode's key stopped working; None when no key of the session works any more."""
    moment = now or utcnow()
    for livemode in (row.livemode, not row.livemode):
        principal = _principal(session, row, livemode=livemode, now=moment)
        if principal is not None:
            row.livemode = livemode
            org = keys_repository.get_organization(session, row.org_id)
            return Viewer(
                principal=principal,
                csrf_token=row.csrf_token,
                org_name=org.name if org else "",
                has_test=_principal(session, row, livemode=False, now=moment) is not None,
                has_live=_principal(session, row, livemode=True, now=moment) is not None,
            )
    return None


def _principal(
    session: Session, row: WebSession, *, livemode: bool, now: datetime
) -> Principal | None:
    key_id = row.live_key_id if livemode else row.test_key_id
    if key_id is None:
        return None
    key = keys_repository.get_key(session, org_id=row.org_id, livemode=livemode, key_id=key_id)
    if (
        key is None
        or key.revoked_at is not None
        or (key.expires_at is not None and key.expires_at <= now)
    ):
        return None
    org = keys_repository.get_organization(session, row.org_id)
    if org is None:
        return None
    return Principal(
        org_id=row.org_id,
        livemode=livemode,
        role=Role(key.role),
        key_id=key.id,
        base_currency=org.base_currency,
    )


def switch_mode(
    session: Session, row: WebSession, *, livemode: bool, now: datetime | None = None
) -> bool:
    """Show the other mode; only possible when the session holds a working key of it."""
    if _principal(session, row, livemode=livemode, now=now or utcnow()) is None:
        return False
    row.livemode = livemode
    session.flush()
    return True


def sign_out(session: Session, row: WebSession) -> None:
    repository.remove(session, row)
