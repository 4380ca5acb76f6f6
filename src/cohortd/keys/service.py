"""Organizations and keys: creation, authentication, revocation, rotation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cohortd.db import utcnow
from cohortd.engine.money import is_currency
from cohortd.errors import FieldError, NotFound, ValidationFailed
from cohortd.ids import new_id
from cohortd.keys import repository
from cohortd.keys.models import ApiKey, Organization, Role
from cohortd.keys.secrets import generate_secret, hash_secret, mode_of, same_hash


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as created: the only moment its secret exists outside the caller's hands."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    org_id: str
    livemode: bool
    role: Role
    key_id: str
    base_currency: str


def create_organization(session: Session, *, name: str, base_currency: str) -> Organization:
    currency = base_currency.upper()
    if not is_currency(currency):
        raise ValidationFailed(
            "base_currency must be an ISO 4217 code",
            errors=[FieldError(("base_currency",), "unknown ISO 4217 currency")],
        )
    org = Organization(id=new_id("org"), name=name, base_currency=currency, created_at=utcnow())
    session.add(org)
    session.flush()
    return org


def issue_key(
    session: Session, *, org_id: str, livemode: bool, role: Role, name: str | None = None
) -> IssuedKey:
    secret = generate_secret(livemode)
    key = ApiKey(
        id=new_id("key"),
        org_id=org_id,
        livemode=livemode,
        role=role.value,
        name=name,
        secret_hash=hash_secret(secret),
        last4=secret[-4:],
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return IssuedKey(key=key, secret=secret)


def authenticate(
    session: Session, secret: str, *, now: datetime | None = None
) -> Authenticated | None:
    """The key's principal, or None for a malformed, unknown, revoked or expired key."""
    livemode = mode_of(secret)
    if livemode is None:
        return None
    presented = hash_secret(secret)
    key = repository.find_key_by_hash(session, presented)
    if key is None or not same_hash(key.secret_hash, presented) or key.livemode != livemode:
        return None
    moment = now or utcnow()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= moment):
        return None
    org = repository.get_organization(session, key.org_id)
    if org is None:
        return None
    return Authenticated(
        org_id=key.org_id,
        livemode=key.livemode,
        role=Role(key.role),
        key_id=key.id,
        base_currency=org.base_currency,
    )


def get_key(session: Session, *, org_id: str, livemode: bool, key_id: str) -> ApiKey:
    key = repository.get_key(session, org_id=org_id, livemode=livemode, key_id=key_id)
    if key is None:
        raise NotFound(f"No API key with id '{key_id}'.")
    return key


def revoke_key(session: Session, *, org_id: str, livemode: bool, key_id: str) -> ApiKey:
    key = get_key(session, org_id=org_id, livemode=livemode, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.flush()
    return key


def rotate_key(
    session: Session, *, org_id: str, livemode: bool, key_id: str, grace_seconds: int = 0
) -> IssuedKey:
    """A new secret with the same role; the old one works for ``grace_seconds`` more."""
    old = get_key(session, org_id=org_id, livemode=livemode, key_id=key_id)
    if old.revoked_at is not None:
        raise NotFound(f"No active API key with id '{key_id}'.")
    issued = issue_key(
        session, org_id=org_id, livemode=livemode, role=Role(old.role), name=old.name
    )
    now = utcnow()
    if grace_seconds > 0:
        old.expires_at = now + timedelta(seconds=grace_seconds)
    else:
        old.revoked_at = now
    old.rotated_to_id = issued.key.id
    session.flush()
    return issued
