"""Dashboard sign-in sessions (control plane).

The browser holds only a random session token; the row keeps its SHA-256 and the ids of
the API keys signed in with (never the keys themselves), so revoking a key ends every
session that used it on the next request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cohortd.db import Base, utcnow
from cohortd.db.types import UTCDateTime


class WebSession(Base):
    """One signed-in browser: up to one key per mode, the mode on show, a CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    test_key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    live_key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
