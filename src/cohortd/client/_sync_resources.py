# Generated from _async_resources.py by scripts/unasync_client.py: do not edit.
"""``Client``: one method per API operation, grouped by resource
(generated from its ``_async_``
twin by ``scripts/unasync_client.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cohortd.client._common import body, operation, tokens
from cohortd.client._sync_transport import Pager, Transport
from cohortd.client.models import (
    Cohort,
    CohortComparison,
    CohortDefinition,
    CohortDeleted,
    CohortReport,
    Definitions,
    DefinitionsGenerated,
    MembershipChange,
    Motion,
    Snapshots,
    Subscriber,
    Subscription,
    SubscriptionRows,
    VintageCurve,
)

Filter = str | Iterable[str] | None
Day = date | str | None


class _Resource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport


def _paging(
    limit: int | None, starting_after: str | None, ending_before: str | None
) -> dict[str, Any]:
    return {"limit": limit, "starting_after": starting_after, "ending_before": ending_before}


def _definition(value: CohortDefinition | Mapping[str, Any] | None) -> Any:
    if isinstance(value, CohortDefinition):
        return value.model_dump(mode="json", exclude_none=True)
    return value


class ReportsResource(_Resource):
    @operation("GET", "/v1/reports/cohort")
    def cohort(
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
        format: str | None = None,
        cohort_id: str | None = None,
    ) -> CohortReport:
        """The retention report (SPEC §2). Multi-value filters take a string
        (space-separated) or a list."""
        params = {
            "interval": interval,
            "date": date,
            "baseCurrency": base_currency,
            "breakdown": breakdown,
            "fix_fx": fix_fx,
            "region": tokens(region),
            "currency": tokens(currency),
            "industry": tokens(industry),
            "channel": tokens(channel),
            "size": tokens(size),
            "format": format,
            "cohort_id": cohort_id,
        }
        return self._t.send(CohortReport, "GET", "/v1/reports/cohort", params=params)


class CohortsResource(_Resource):
    @operation("POST", "/v1/cohorts")
    def create(
        self,
        *,
        name: str,
        definition: CohortDefinition | Mapping[str, Any] | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Cohort:
        payload = body({"name": name, "description": description})
        payload["definition"] = _definition(definition) or {}
        return self._t.send(
            Cohort, "POST", "/v1/cohorts", json=payload, idempotency_key=idempotency_key
        )

    @operation("GET", "/v1/cohorts")
    def list(
        self,
        *,
        cohort_type: str | None = None,
        as_of: Day = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Pager[Cohort]:
        params = {"cohort_type": cohort_type, "as_of": as_of}
        params.update(_paging(limit, starting_after, ending_before))
        return self._t.pager(Cohort, "/v1/cohorts", params)

    @operation("GET", "/v1/cohorts/{cohort_id}")
    def get(self, cohort_id: str, *, as_of: Day = None) -> Cohort:
        return self._t.send(Cohort, "GET", f"/v1/cohorts/{cohort_id}", params={"as_of": as_of})

    @operation("PATCH", "/v1/cohorts/{cohort_id}")
    def update(
        self,
        cohort_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        definition: CohortDefinition | Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Cohort:
        """Change what is given; a given definition replaces the old one whole."""
        payload = body({"name": name, "description": description})
        if definition is not None:
            payload["definition"] = _definition(definition)
        return self._t.send(
            Cohort,
            "PATCH",
            f"/v1/cohorts/{cohort_id}",
            json=payload,
            idempotency_key=idempotency_key,
        )

    @operation("DELETE", "/v1/cohorts/{cohort_id}")
    def delete(self, cohort_id: str, *, idempotency_key: str | None = None) -> CohortDeleted:
        return self._t.send(
            CohortDeleted, "DELETE", f"/v1/cohorts/{cohort_id}", idempotency_key=idempotency_key
        )

    @operation("GET", "/v1/cohorts/{cohort_id}/members")
    def members(
        self,
        cohort_id: str,
        *,
        as_of: Day = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Pager[Subscriber]:
        params = {"as_of": as_of, **_paging(limit, starting_after, ending_before)}
        return self._t.pager(Subscriber, f"/v1/cohorts/{cohort_id}/members", params)

    @operation("GET", "/v1/cohorts/{cohort_id}/snapshots")
    def snapshots(
        self,
        cohort_id: str,
        *,
        interval: str | None = None,
        from_: Day = None,
        to: Day = None,
        base_currency: str | None = None,
    ) -> Snapshots:
        """MRR movements, NRR and GRR per period (SPEC §4); ``from_`` is ``from``."""
        params = {"interval": interval, "from": from_, "to": to, "baseCurrency": base_currency}
        return self._t.send(Snapshots, "GET", f"/v1/cohorts/{cohort_id}/snapshots", params=params)

    @operation("GET", "/v1/cohorts/{cohort_id}/curve")
    def curve(
        self, cohort_id: str, *, months: int | None = None, base_currency: str | None = None
    ) -> VintageCurve:
        params = {"months": months, "baseCurrency": base_currency}
        return self._t.send(VintageCurve, "GET", f"/v1/cohorts/{cohort_id}/curve", params=params)

    @operation("GET", "/v1/cohorts/{cohort_id}/membership_changes")
    def membership_changes(
        self,
        cohort_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Pager[MembershipChange]:
        path = f"/v1/cohorts/{cohort_id}/membership_changes"
        return self._t.pager(MembershipChange, path, _paging(limit, starting_after, ending_before))

    @operation("GET", "/v1/cohorts/compare")
    def compare(
        self,
        *,
        cohort_type: str | None = None,
        interval: str | None = None,
        period: str | None = None,
        base_currency: str | None = None,
    ) -> CohortComparison:
        params = {
            "cohort_type": cohort_type,
            "interval": interval,
            "period": period,
            "baseCurrency": base_currency,
        }
        return self._t.send(CohortComparison, "GET", "/v1/cohorts/compare", params=params)


class DefinitionsResource(_Resource):
    """Pillar's ``/api/cohorts/definitions``."""

    @operation("POST", "/api/cohorts/definitions")
    def generate(self, *, idempotency_key: str | None = None) -> DefinitionsGenerated:
        return self._t.send(
            DefinitionsGenerated,
            "POST",
            "/api/cohorts/definitions",
            idempotency_key=idempotency_key,
        )

    @operation("GET", "/api/cohorts/definitions")
    def list(self, *, cohort_type: str | None = None) -> Definitions:
        return self._t.send(
            Definitions, "GET", "/api/cohorts/definitions", params={"cohort_type": cohort_type}
        )


class MotionsResource(_Resource):
    @operation("POST", "/v1/motions")
    def create(
        self,
        *,
        type: str,
        cohort_id: str,
        name: str | None = None,
        status: str | None = None,
        idempotency_key: str | None = None,
    ) -> Motion:
        payload = body({"type": type, "cohort_id": cohort_id, "name": name, "status": status})
        return self._t.send(
            Motion, "POST", "/v1/motions", json=payload, idempotency_key=idempotency_key
        )

    @operation("GET", "/v1/motions")
    def list(
        self,
        *,
        cohort_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Pager[Motion]:
        params = {"cohort_id": cohort_id, "status": status}
        params.update(_paging(limit, starting_after, ending_before))
        return self._t.pager(Motion, "/v1/motions", params)

    @operation("GET", "/v1/motions/{motion_id}")
    def get(self, motion_id: str) -> Motion:
        return self._t.send(Motion, "GET", f"/v1/motions/{motion_id}")

    @operation("PATCH", "/v1/motions/{motion_id}")
    def update(
        self,
        motion_id: str,
        *,
        status: str | None = None,
        name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Motion:
        return self._t.send(
            Motion,
            "PATCH",
            f"/v1/motions/{motion_id}",
            json=body({"status": status, "name": name}),
            idempotency_key=idempotency_key,
        )


class SubscribersResource(_Resource):
    @operation("GET", "/v1/subscribers")
    def list(
        self,
        *,
        status: str | None = None,
        plan_id: str | None = None,
        tag: str | None = None,
        country: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Pager[Subscriber]:
        params = {"status": status, "plan_id": plan_id, "tag": tag, "country": country}
        params.update(_paging(limit, starting_after, ending_before))
        return self._t.pager(Subscriber, "/v1/subscribers", params)

    @operation("GET", "/v1/subscribers/{subscriber_id}")
    def get(self, subscriber_id: str) -> Subscriber:
        return self._t.send(Subscriber, "GET", f"/v1/subscribers/{subscriber_id}")

    @operation("PATCH", "/v1/subscribers/{subscriber_id}")
    def update(
        self,
        subscriber_id: str,
        *,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Subscriber:
        """Change the given fields (``tags``, ``metadata``, and any §1 field the server
        accepts)."""
        payload = body({"tags": tags, "metadata": metadata, **fields})
        return self._t.send(
            Subscriber,
            "PATCH",
            f"/v1/subscribers/{subscriber_id}",
            json=payload,
            idempotency_key=idempotency_key,
        )

    @operation("POST", "/v1/subscribers")
    def create(
        self,
        *,
        id: str,
        created_at: datetime | str,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Subscriber:
        """Create one customer (SPEC §9; §1 fields as keywords); 409 if the id exists."""
        payload = body({"id": id, "created_at": created_at, **fields})
        return self._t.send(
            Subscriber, "POST", "/v1/subscribers", json=payload, idempotency_key=idempotency_key
        )


class SubscriptionsResource(_Resource):
    @operation("GET", "/v1/subscriptions/{subscription_id}")
    def get(self, subscription_id: str) -> Subscription:
        return self._t.send(Subscription, "GET", f"/v1/subscriptions/{subscription_id}")

    @operation("POST", "/v1/subscriptions")
    def create(
        self,
        *,
        id: str,
        customer_id: str,
        currency: str,
        mrr: Decimal | str,
        start_date: Day,
        plan_id: str | None = None,
        end_date: Day = None,
        status: str | None = None,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """One MRR stretch (SPEC §9); upserts on ``id``. ``mrr`` in major units, exact."""
        payload = body(
            {
                "id": id,
                "customer_id": customer_id,
                "plan_id": plan_id,
                "currency": currency,
                "mrr": mrr,
                "start_date": start_date,
                "end_date": end_date,
                "status": status,
            }
        )
        return self._t.send(
            Subscription,
            "POST",
            "/v1/subscriptions",
            json=payload,
            idempotency_key=idempotency_key,
        )

    def _override(
        self, subscription_id: str, action: str, fields: dict[str, Any], key: str | None
    ) -> SubscriptionRows:
        return self._t.send(
            SubscriptionRows,
            "POST",
            f"/v1/subscriptions/{subscription_id}/{action}",
            json=body(fields),
            idempotency_key=key,
        )

    @operation("POST", "/v1/subscriptions/{subscription_id}/cancel")
    def cancel(
        self,
        subscription_id: str,
        *,
        effective_date: Day = None,
        idempotency_key: str | None = None,
    ) -> SubscriptionRows:
        fields = {"effective_date": effective_date}
        return self._override(subscription_id, "cancel", fields, idempotency_key)

    @operation("POST", "/v1/subscriptions/{subscription_id}/change_plan")
    def change_plan(
        self,
        subscription_id: str,
        *,
        plan_id: str,
        mrr: Decimal | str,
        currency: str | None = None,
        effective_date: Day = None,
        idempotency_key: str | None = None,
    ) -> SubscriptionRows:
        fields = {
            "plan_id": plan_id,
            "mrr": mrr,
            "currency": currency,
            "effective_date": effective_date,
        }
        return self._override(subscription_id, "change_plan", fields, idempotency_key)

    @operation("POST", "/v1/subscriptions/{subscription_id}/pause")
    def pause(
        self,
        subscription_id: str,
        *,
        effective_date: Day = None,
        resume_date: Day = None,
        idempotency_key: str | None = None,
    ) -> SubscriptionRows:
        fields = {"effective_date": effective_date, "resume_date": resume_date}
        return self._override(subscription_id, "pause", fields, idempotency_key)

    @operation("POST", "/v1/subscriptions/{subscription_id}/resume")
    def resume(
        self,
        subscription_id: str,
        *,
        effective_date: Day = None,
        idempotency_key: str | None = None,
    ) -> SubscriptionRows:
        fields = {"effective_date": effective_date}
        return self._override(subscription_id, "resume", fields, idempotency_key)
