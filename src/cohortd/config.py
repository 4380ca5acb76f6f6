"""Settings, read from ``COHORTD_*`` environment variables (see docs/configuration.md)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cohortd import clock


class Settings(BaseSettings):
    """Every setting of cohortd. Each field is documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="COHORTD_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".cohortd"),
        description="Folder for the embedded defaults: the SQLite control plane and DuckDB file.",
    )
    database_url: str | None = Field(
        default=None,
        description="Control-plane SQLAlchemy URL; default a SQLite file in the data dir.",
    )
    warehouse_url: str | None = Field(
        default=None,
        description="Data-plane URL (duckdb:///path, postgresql://..., spark://local?path=DIR "
        "or sc://HOST:PORT?path=DIR); default: DuckDB file in the data dir.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Optional Redis URL; when set, rate limits are shared between processes.",
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        description="Largest JSON request body accepted (413 beyond); uploads use "
        "max_upload_bytes.",
    )
    max_upload_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        description="Largest multipart upload accepted by POST /v1/imports (413 beyond).",
    )
    rate_limit_per_minute: int = Field(
        default=600, description="Requests one API key may make per minute (429 beyond)."
    )
    report_max_cells: int = Field(
        default=200_000,
        description="Largest cohort report (cohorts x periods); beyond it 422 says what to narrow.",
    )
    query_timeout_seconds: float = Field(
        default=10.0,
        description="Deadline of every analytic request: past it, its queries are cancelled "
        "and it answers 503.",
    )
    warehouse_readers: int = Field(
        default=8,
        ge=1,
        description="PostgreSQL data plane: connections analytic reads may hold at once "
        "(DuckDB gives each read a cursor, unpooled).",
    )
    answer_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Memory for cached analytic answers per process (least recently used "
        "out first); 0 turns the cache off.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the operator metrics (GET /metrics, Prometheus text, no key); "
        "unset: not served.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the operator metrics port binds."
    )
    idempotency_ttl_hours: int = Field(
        default=24, description="How long an Idempotency-Key and its stored response are kept."
    )
    snapshot_schedule: str | None = Field(
        default=None,
        description="UTC time of the built-in daily snapshot run as HH:MM; unset turns it off.",
    )
    today: str | None = Field(
        default=None,
        description="Pins the day cohortd treats as today (YYYY-MM-DD): statuses, as_of "
        "defaults, current periods, run dates. Unset: the UTC date. Read by cohortd.clock.",
    )
    log_level: str = Field(default="INFO", description="Log level of the JSON logs.")
    events_retention_days: int = Field(
        default=90, ge=1, description="Days events (and their deliveries) are kept."
    )
    events_backfill_days: int = Field(
        default=35,
        ge=0,
        description="Subscription change points older than this many days before today make "
        "no event (a backfill does not flood receivers).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Fernet key(s) encrypting webhook signing secrets at rest, comma-separated "
        "(the first encrypts, all decrypt); unset: a key generated into the data dir.",
    )
    delivery: Literal["embedded", "external"] = Field(
        default="embedded",
        description="'embedded': the server runs the webhook delivery loop; 'external': "
        "only `cohortd worker` processes deliver.",
    )
    webhook_timeout_s: float = Field(
        default=30.0, gt=0, description="A delivery attempt not answered 2xx within this fails."
    )
    webhook_retry_schedule: str = Field(
        default="60,300,1800,7200,43200,86400",
        description="Seconds between attempts, comma-separated; the last step repeats until "
        "the retry window ends. Each wait gets +-10% jitter.",
    )
    webhook_retry_window_hours: float = Field(
        default=168.0,
        gt=0,
        description="Retries stop (the delivery is failed) this long after the first attempt.",
    )
    webhook_allow_networks: str = Field(
        default="",
        description="CIDRs a destination may resolve to even though they are private, "
        "comma-separated (e.g. a receiver inside your own network).",
    )
    webhook_concurrency: int = Field(
        default=64, ge=1, description="Delivery attempts in flight at once, per process."
    )
    webhook_concurrency_per_destination: int = Field(
        default=16, ge=1, description="Delivery attempts in flight to one destination at once."
    )
    webhook_lease_s: float = Field(
        default=120.0,
        gt=0,
        description="How long a claimed delivery stays with its worker; a worker that dies "
        "leaves it to others once this lapses.",
    )

    @field_validator("today")
    @classmethod
    def _a_date(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            clock.parse(value.strip())  # the clock's own reading, so both agree
        return value

    @property
    def resolved_database_url(self) -> str:
        """The control-plane URL, defaulting to a SQLite file inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'control.sqlite3').resolve()}"

    @property
    def resolved_warehouse_url(self) -> str:
        """The data-plane URL, defaulting to a DuckDB file inside the data dir."""
        if self.warehouse_url:
            return self.warehouse_url
        return f"duckdb:///{(self.data_dir / 'warehouse.duckdb').resolve()}"

    @property
    def retry_steps(self) -> list[float]:
        """``webhook_retry_schedule`` as seconds."""
        return [float(step) for step in self.webhook_retry_schedule.split(",") if step.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()


DEMO_FILE = "demo.json"  # in the data dir: the demo organization ``cohortd demo`` made


def demo_org_id(settings: Settings) -> str | None:
    """The demo organization's id recorded in the data dir, if any (not checked to exist)."""
    try:
        return str(json.loads((settings.data_dir / DEMO_FILE).read_text())["org_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
