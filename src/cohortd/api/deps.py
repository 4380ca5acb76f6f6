"""Typed FastAPI dependencies: who is calling, the control-plane session, the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cohortd.config import Settings
from cohortd.errors import Forbidden, Unauthorized
from cohortd.keys.models import Role
from cohortd.warehouse import Scope, Warehouse


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: one organization, one mode, one role."""

    org_id: str
    livemode: bool
    role: Role
    key_id: str
    base_currency: str

    @property
    def scope(self) -> Scope:
        return Scope(org_id=self.org_id, livemode=self.livemode)


def authenticated(request: Request) -> Principal:
    found = getattr(request.state, "principal", None)
    if found is None:
        attempted = getattr(request.state, "auth_attempted", False)
        detail = (
            "The API key is invalid, revoked or expired."
            if attempted
            else "Authenticate with 'Authorization: Bearer rk_test_...' or rk_live_...."
        )
        raise Unauthorized(detail, headers={"WWW-Authenticate": "Bearer"})
    return Principal(
        org_id=found.org_id,
        livemode=found.livemode,
        role=found.role,
        key_id=found.key_id,
        base_currency=found.base_currency,
    )


def may_write(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    if principal.role not in (Role.admin, Role.developer):
        raise Forbidden(f"The '{principal.role}' role may only read.")
    return principal


def may_administer(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    if principal.role is not Role.admin:
        raise Forbidden(f"The '{principal.role}' role may not manage keys.")
    return principal


def get_session(request: Request) -> Iterator[Session]:
    """One control-plane session per request: committed on success, rolled back on error."""
    session: Session = request.app.state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_warehouse(request: Request) -> Warehouse:
    return request.app.state.warehouse  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


AuthDep = Annotated[Principal, Depends(authenticated)]
WriteAuth = Annotated[Principal, Depends(may_write)]
AdminAuth = Annotated[Principal, Depends(may_administer)]
# scope="function": commit before the response is sent, so a 2xx always means written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
