"""``Workspace``: the engine from Python, over the planes directly (no server).

Each method takes the API's parameters as keyword arguments and calls the service the
endpoint calls, so the numbers are the API's and a bad parameter fails the same way
(a ``cohortd.client.errors`` exception carrying the API's problem, raised before any
query runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from cohortd.api.deps import Principal
from cohortd.api.paging import PageParams
from cohortd.client.errors import ApiError, error_from_problem
from cohortd.cohorts import service as cohorts
from cohortd.cohorts.schemas import CohortCreate, CohortType
from cohortd.config import Settings
from cohortd.errors import AppError, FieldError, ValidationFailed
from cohortd.intelligence import service as intelligence
from cohortd.keys.models import Role
from cohortd.metrics import service as metrics_service
from cohortd.notebook.answers import Cohorts, Curve, Members, Metrics, Report, Snapshots
from cohortd.reports import service as reports
from cohortd.warehouse import Warehouse

T = TypeVar("T")
Filter = str | Iterable[str] | None
Day = date | str | None
_PAGE = 100


def problem(error: AppError) -> ApiError:
    """The exception the API's problem+json for ``error`` would raise in the client."""
    body: dict[str, Any] = {
        "type": error.type_uri,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if error.errors:
        body["errors"] = [e.as_json() for e in error.errors]
    body.update(error.extra)
    return error_from_problem(error.status, body)


def _text(value: Filter | Day | bool) -> str | None:
    """A keyword argument as the API's query-string text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return " ".join(value)


class Workspace:
    """One organization and mode of a cohortd installation, read from Python.

    Opened by ``cohortd.open(...)``; close it (or use ``with``) to release the planes."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        warehouse: Warehouse,
        *,
        org_id: str,
        livemode: bool,
        base_currency: str,
        on_close: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.org_id = org_id
        self.livemode = livemode
        self.base_currency = base_currency
        self.warehouse = warehouse
        self._sessions = sessions
        self._on_close = on_close
        self._principal = Principal(org_id, livemode, Role.viewer, "notebook", base_currency)
        self._caller = intelligence.Caller(org_id, livemode, base_currency)

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A control-plane session; expected failures become the API's typed errors."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except AppError as error:
                session.rollback()
                raise problem(error) from None

    def _run(self, action: Callable[[Session], T]) -> T:
        with self._session() as session:
            return action(session)

    # -- analyses -------------------------------------------------------------------------

    def report(
        self,
        *,
        interval: str | None = None,
        date: Day = None,
        base_currency: str | None = None,
        breakdown: str | None = None,
        fix_fx: bool | None = None,
        region: Filter = None,
        currency: Filter = None,
        industry: Filter = None,
        channel: Filter = None,
        size: Filter = None,
        cohort_id: str | None = None,
    ) -> Report:
        """The retention report (``GET /v1/reports/cohort``, list format)."""
        params = reports.ReportParams(
            date=_text(date),
            interval=interval,
            baseCurrency=base_currency,
            breakdown=breakdown,
            fix_fx=_text(fix_fx),
            region=_text(region),
            currency=_text(currency),
            industry=_text(industry),
            channel=_text(channel),
            size=_text(size),
            cohort_id=cohort_id,
        )
        body = self._run(
            lambda session: reports.report_for(
                session, self.warehouse, self._principal, params, settings=self.settings
            )
        )
        return Report(body)

    def snapshots(
        self,
        cohort_id: str,
        *,
        interval: str | None = None,
        from_: Day = None,
        to: Day = None,
        base_currency: str | None = None,
    ) -> Snapshots:
        """A cohort's MRR movements, NRR and GRR per period (``from_`` is ``from``)."""
        body = self._run(
            lambda session: intelligence.cohort_snapshots(
                session,
                self.warehouse,
                self._caller,
                cohort_id,
                interval=interval,
                start=_text(from_),
                end=_text(to),
                base_currency=base_currency,
            )
        )
        return Snapshots(body)

    def curve(
        self, cohort_id: str, *, months: int | None = None, base_currency: str | None = None
    ) -> Curve:
        """A cohort's vintage curve (``GET /v1/cohorts/{id}/curve``)."""
        body = self._run(
            lambda session: intelligence.cohort_curve(
                session,
                self.warehouse,
                self._caller,
                cohort_id,
                months=months,
                base_currency=base_currency,
            )
        )
        return Curve(body)

    def metrics(
        self,
        *,
        start_date: Day = None,
        end_date: Day = None,
        interval: str | None = None,
        base_currency: str | None = None,
        fix_fx: bool | None = None,
        region: Filter = None,
        currency: Filter = None,
        industry: Filter = None,
        channel: Filter = None,
        size: Filter = None,
        cohort_id: str | None = None,
    ) -> Metrics:
        """SaaS metrics per period (``GET /v1/metrics``, SPEC §8)."""
        params = metrics_service.MetricsParams(
            start_date=_text(start_date),
            end_date=_text(end_date),
            interval=interval,
            baseCurrency=base_currency,
            fix_fx=_text(fix_fx),
            region=_text(region),
            currency=_text(currency),
            industry=_text(industry),
            channel=_text(channel),
            size=_text(size),
            cohort_id=cohort_id,
        )

        def computed(session: Session) -> dict[str, Any]:
            query, series = metrics_service.series_for(
                session,
                self.warehouse,
                self._principal,
                params,
                timeout_seconds=self.settings.query_timeout_seconds,
            )
            return metrics_service.metrics_body(query, series)

        return Metrics(self._run(computed))

    # -- cohorts --------------------------------------------------------------------------

    def cohorts(self, *, cohort_type: str | None = None, as_of: Day = None) -> Cohorts:
        """Every cohort of the organization and mode, with exact member counts."""
        kind = _cohort_type(cohort_type)
        day = _day("as_of", as_of)

        def listed(session: Session) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            after: str | None = None
            while True:
                page = cohorts.list_cohort_rows(
                    session, self._principal, PageParams(_PAGE, after), cohort_type=kind
                )
                views = cohorts.views(
                    session, self.warehouse, self._principal, page.items, as_of=day
                )
                found += [view.model_dump(mode="json") for view in views]
                if not page.has_more:
                    return found
                after = page.next_cursor

        return Cohorts({"object": "list", "data": self._run(listed)})

    def cohort(self, cohort_id: str, *, as_of: Day = None) -> Members:
        """One cohort (``.cohort``) and its members as of ``as_of`` (default today)."""
        day = _day("as_of", as_of)

        def members(session: Session) -> dict[str, Any]:
            row = cohorts.get_cohort_row(session, self._principal, cohort_id)
            view = cohorts.views(session, self.warehouse, self._principal, [row], as_of=day)[0]
            data: list[dict[str, Any]] = []
            after: str | None = None
            while True:
                page = cohorts.members_page(
                    session,
                    self.warehouse,
                    self._principal,
                    cohort_id,
                    PageParams(_PAGE, after),
                    as_of=day,
                )
                data += [member.model_dump(mode="json") for member in page.items]
                if not page.has_more:
                    return {"cohort": view.model_dump(mode="json"), "data": data}
                after = page.next_cursor

        return Members(self._run(members))

    def create_cohort(
        self,
        *,
        name: str,
        definition: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create a rule-based cohort (as ``POST /v1/cohorts``); returns the cohort."""
        try:
            body = CohortCreate.model_validate(
                {"name": name, "description": description, "definition": definition or {}}
            )
        except ValidationError as invalid:
            raise problem(_unprocessable(invalid)) from None

        def create(session: Session) -> dict[str, Any]:
            row = cohorts.create_cohort(session, self._principal, body)
            view = cohorts.views(session, self.warehouse, self._principal, [row])[0]
            return view.model_dump(mode="json")

        return self._run(create)

    # -- loading --------------------------------------------------------------------------

    def load(
        self,
        *,
        customers: str | Path | None = None,
        subscriptions: str | Path | None = None,
        exchange_rates: str | Path | None = None,
        on_error: str = "abort",
    ) -> dict[str, Any]:
        """Import files (what ``cohortd import`` does) as a recorded job; returns the job.

        A failed import raises ``UnprocessableEntityError`` whose ``body["job"]`` lists
        the problems (nothing is written unless ``on_error="skip"``)."""
        from cohortd.notebook.loading import import_files

        given = {"customers": customers, "subscriptions": subscriptions}
        given["exchange_rates"] = exchange_rates
        files = {kind: Path(path) for kind, path in given.items() if path is not None}
        try:
            return import_files(self, files, on_error=on_error)
        except AppError as error:
            raise problem(error) from None

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The control-plane session factory."""
        return self._sessions

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._on_close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<cohortd.Workspace org={self.org_id} mode={self.mode}>"


def _unprocessable(invalid: ValidationError) -> ValidationFailed:
    """A body that fails its schema, as the API's 422 names it (``body.<field>``)."""
    errors = [
        FieldError(("body", *item["loc"]), str(item.get("msg", "invalid")))
        for item in invalid.errors()
    ]
    named = ", ".join(".".join(str(p) for p in e.loc) for e in errors[:5])
    return ValidationFailed(f"Invalid request: {named}.", errors=errors)


def _cohort_type(value: str | None) -> CohortType | None:
    try:
        parsed = intelligence.parse_cohort_type(value)
    except AppError as error:
        raise problem(error) from None
    return CohortType(parsed) if parsed else None


def _day(name: str, value: Day) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        # the endpoints declare as_of a date, so FastAPI answers 422 naming it
        invalid = ValidationFailed(
            f"Invalid request: query.{name}.",
            errors=[FieldError(("query", name), "Input should be a valid date")],
        )
        raise problem(invalid) from None
