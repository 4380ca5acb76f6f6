"""``create_app()``: lifespan (migrations, planes), middleware, routers, one error handler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from cohortd import __version__
from cohortd.api.cache import AnswerCache
from cohortd.api.gateway import Gateway, GatewayConfig
from cohortd.api.openapi import install_openapi
from cohortd.api.operator_metrics import MetricsServer, RequestMetrics, exposition
from cohortd.api.problems import install_handlers
from cohortd.api.ratelimit import make_rate_limiter
from cohortd.config import Settings, get_settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.events import outbox
from cohortd.idempotency.store import IdempotencyStore, expires_after
from cohortd.intelligence.jobs import fail_stale as fail_stale_runs
from cohortd.intelligence.schedule import start as start_snapshot_schedule
from cohortd.logs import configure_logging
from cohortd.reports.warm import start as start_warming
from cohortd.warehouse import connect
from cohortd.warehouse.server_file import remove_server_file, write_server_file
from cohortd.webhooks.delivery import DeliveryLoop, LoopThread
from cohortd.webhooks.ssrf import system_resolver

STATIC = Path(__file__).parent / "web" / "static"


def _routers() -> list[APIRouter]:
    """Every router of the API. Domains add theirs here."""
    from cohortd.api import system
    from cohortd.cohorts import endpoints as cohorts
    from cohortd.events import endpoints as events
    from cohortd.imports import endpoints as imports
    from cohortd.intelligence import endpoints as intelligence
    from cohortd.keys import endpoints as keys
    from cohortd.metrics import endpoints as metrics
    from cohortd.motions import endpoints as motions
    from cohortd.reports import endpoints as reports
    from cohortd.subscribers import endpoints as subscribers
    from cohortd.subscriptions import endpoints as subscriptions
    from cohortd.web import endpoints as web
    from cohortd.webhooks import endpoints as webhooks

    # intelligence before cohorts: /v1/cohorts/compare must not match /v1/cohorts/{id}
    return [
        system.router,
        keys.router,
        intelligence.pillar_router,
        intelligence.router,
        cohorts.router,
        motions.router,
        subscribers.router,
        subscriptions.router,
        web.router,
        imports.router,
        reports.router,
        events.router,
        webhooks.router,
        metrics.router,
    ]


def _start_delivery(
    app: FastAPI, settings: Settings, sessions: sessionmaker[Session]
) -> LoopThread | None:
    """Relay events a crash left in the warehouse outbox, then (unless delivery is
    external) run the delivery loop in this process; it relays on every pass too."""

    def relay() -> int:
        return outbox.relay(sessions, app.state.warehouse)

    relay()
    if settings.delivery == "external":
        return None
    loop = DeliveryLoop(
        sessions,
        settings,
        resolver=getattr(app.state, "webhook_resolver", None) or system_resolver,
        relay=relay,
    )
    app.state.delivery_loop = loop
    return LoopThread(loop).start()


def create_app(
    settings: Settings | None = None,
    *,
    configure_logs: bool = True,
    announce_url: str | None = None,
) -> FastAPI:
    """Build the application. Planes are opened in the lifespan, so the app is cheap to
    construct (tests pass their own ``Settings``). With ``announce_url`` the server records
    its address in the data dir while it runs, so CLI writes go through it (DuckDB allows
    one writing process)."""
    settings = settings or get_settings()
    if configure_logs:
        configure_logging(settings.log_level)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.resolved_database_url)
        app.state.warehouse = connect(
            settings.resolved_warehouse_url, readers=settings.warehouse_readers
        )
        with sessions.begin() as session:  # runs whose process died: failed
            fail_stale_runs(session)
        warming = start_warming(settings, sessions, app.state.warehouse)
        snapshots = start_snapshot_schedule(
            settings.snapshot_schedule, sessions, lambda: app.state.warehouse
        )
        delivery = _start_delivery(app, settings, sessions)
        if announce_url:
            write_server_file(settings.data_dir, announce_url)
        metrics = None
        if settings.metrics_port is not None:
            metrics = MetricsServer(
                settings.metrics_host, settings.metrics_port, lambda: exposition(app.state)
            ).start()
        app.state.metrics_server = metrics
        try:
            yield
        finally:
            if metrics is not None:
                metrics.stop()
            if announce_url:
                remove_server_file(settings.data_dir)
            if delivery is not None:
                delivery.stop()
            if snapshots is not None:
                snapshots.stop()
            warming.join(timeout=60)  # never close the warehouse under a running query
            app.state.warehouse.close()
            engine.dispose()

    app = FastAPI(
        title="cohortd",
        version=__version__,
        description="Cohort analytics for subscription businesses: Recurr, GrowPanel and "
        "Pillar contracts from one engine.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.answers = AnswerCache(settings.answer_cache_bytes)
    app.state.request_metrics = RequestMetrics()
    install_handlers(app)
    app.add_middleware(
        Gateway,
        config=GatewayConfig(
            max_body_bytes=settings.max_body_bytes,
            max_upload_bytes=settings.max_upload_bytes,
            idempotency=IdempotencyStore(
                sessions, ttl=expires_after(settings.idempotency_ttl_hours)
            ),
            rate_limiter=make_rate_limiter(settings.rate_limit_per_minute, settings.redis_url),
            sessions=sessions,
            metrics=app.state.request_metrics,
        ),
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in _routers():
        app.include_router(router)
    _build_routes(app)
    install_openapi(app)
    return app


def _build_routes(app: FastAPI) -> None:
    """Build every route's request model now, in one thread. FastAPI builds an included
    router's routes on its first request; requests arriving together at a fresh server
    raced in pydantic's schema building and some answered 500."""
    unmatched: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/_cohortd_routes_built",
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }
    for route in app.router.routes:
        route.matches(dict(unmatched))
