"""The seed's example cohort, "High-LTV annual subs", with every definition field, checked
against the same membership written by hand in SQL (DuckDB and PostgreSQL) over the warehouse
tables."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness

from cohortd import clock
from cohortd.warehouse import Scope

TODAY = clock.today()

DEFINITION: dict[str, Any] = {
    "status": ["active", "paused"],
    "tenure_days_min": 30,
    "tenure_days_max": 700,
    "plan_ids": ["annual_pro", "ANNUAL_BASIC"],
    "tags_include": ["vip"],
    "tags_exclude": ["churn_risk"],
    "engagement_score_min": 0.3,
    "countries": ["US", "de", "FR"],
    "currencies": ["USD", "EUR"],
    "industries": ["software", "Retail"],
    "channels": ["organic", "partner"],
    "sizes": ["1-10", "11-50"],
    "segments": ["SMB", "Mid-Market"],
    "territories": ["NA", "EMEA"],
    "owner_ids": ["rep_1", "rep_2"],
    "created_from": "2023-01-01T00:00:00Z",
    "created_before": "2025-07-01T00:00:00Z",
}

# The hand-written membership (DuckDB and PostgreSQL alike; only the placeholders
# differ): given status/plan stand today; else derived from the rows
# covering today (MRR > 0 → active, a paused row → paused, ...; plan = highest MRR, ties
# smallest id). Lapsed/cancelled need not be derived: the definition asks neither.
HAND_SQL = """
WITH cust AS (SELECT * FROM customers WHERE org_id = $org AND NOT livemode),
subs AS (SELECT * FROM subscriptions WHERE org_id = $org AND NOT livemode),
cov AS (SELECT * FROM subs WHERE start_date <= $day AND (end_date IS NULL OR end_date > $day)),
paid AS (SELECT customer_id, min(start_date) AS first_paid FROM subs
          WHERE mrr_minor > 0 GROUP BY 1),
state AS (
  SELECT c.*,
    coalesce(c.status, CASE
      WHEN (SELECT sum(mrr_minor) FROM cov WHERE cov.customer_id = c.id) > 0 THEN 'active'
      WHEN EXISTS (SELECT 1 FROM cov WHERE cov.customer_id = c.id AND lower(cov.status) = 'paused')
        THEN 'paused'
      WHEN EXISTS (SELECT 1 FROM cov WHERE cov.customer_id = c.id) THEN 'trialing'
    END) AS st,
    coalesce(c.plan_id, (SELECT plan_id FROM cov WHERE cov.customer_id = c.id
                         ORDER BY mrr_minor DESC, plan_id LIMIT 1)) AS pl,
    CASE WHEN p.first_paid <= $day THEN $day - p.first_paid END AS tenure
  FROM cust c LEFT JOIN paid p ON p.customer_id = c.id
)
SELECT id FROM state
WHERE st IN ('active', 'paused')
  AND tenure >= 30 AND tenure <= 700
  AND lower(pl) IN ('annual_pro', 'annual_basic')
  AND EXISTS (SELECT 1 FROM unnest(tags) AS u(tag) WHERE lower(u.tag) = 'vip')
  AND NOT EXISTS (SELECT 1 FROM unnest(tags) AS u(tag) WHERE lower(u.tag) = 'churn_risk')
  AND engagement_score >= 0.3
  AND lower(country) IN ('us', 'de', 'fr')
  AND lower(currency) IN ('usd', 'eur')
  AND lower(industry) IN ('software', 'retail')
  AND lower(channel) IN ('organic', 'partner')
  AND lower(size) IN ('1-10', '11-50')
  AND lower(segment) IN ('smb', 'mid-market')
  AND lower(territory) IN ('na', 'emea')
  AND lower(owner_id) IN ('rep_1', 'rep_2')
  AND created_at >= TIMESTAMP '2023-01-01 00:00:00'
  AND created_at < TIMESTAMP '2025-07-01 00:00:00'
ORDER BY id
"""


def _pick(rng: random.Random, hits: list[Any], misses: list[Any]) -> Any:
    """A value the definition accepts 85% of the time, else one it rejects."""
    return rng.choice(hits if rng.random() < 0.85 or not misses else misses)


def _population(seed: int, size: int) -> tuple[list[Cust], list[Sub]]:
    """Customers drawn from small pools (each list in DEFINITION covers most of its pool)."""
    rng = random.Random(seed)
    customers: list[Cust] = []
    subscriptions: list[Sub] = []
    for n in range(size):
        cid = f"cus_{n:04d}"
        currency = _pick(rng, ["USD", "EUR"], ["GBP"])
        customers.append(
            Cust(
                cid,
                datetime(2022, 6, 1) + timedelta(days=rng.randrange(0, 1200)),
                country=_pick(rng, ["US", "DE", "FR"], ["GB", None]),
                currency=_pick(rng, [currency, None], []),
                industry=_pick(rng, ["Software", "retail"], ["Health", None]),
                channel=_pick(rng, ["organic", "Partner"], ["paid"]),
                size=_pick(rng, ["1-10", "11-50"], ["51-200"]),
                segment=_pick(rng, ["SMB", "mid-market"], ["Enterprise"]),
                territory=_pick(rng, ["NA", "EMEA"], ["APAC"]),
                owner_id=_pick(rng, ["rep_1", "rep_2"], ["rep_3", None]),
                tags=_pick(rng, [("vip",), ("VIP", "beta")], [("vip", "churn_risk"), (), None]),
                engagement_score=_pick(rng, [0.3, 0.8], [0.29, None]),
                status=_pick(rng, [None, None, "active"], ["cancelled"]),
                plan_id=_pick(rng, [None, None, "annual_pro"], ["monthly"]),
            )
        )
        start = TODAY - timedelta(days=rng.randrange(0, 800))
        plan = _pick(rng, ["annual_pro", "annual_basic"], ["monthly"])
        kind = _pick(rng, ["paying", "paying", "paused"], ["trial", "ended", "none"])
        if kind == "paying":
            subscriptions.append(
                Sub(f"{cid}_a", cid, start, None, rng.randrange(100, 90000), plan, currency)
            )
            if rng.random() < 0.3:  # a second, overlapping plan
                subscriptions.append(
                    Sub(
                        f"{cid}_b",
                        cid,
                        start,
                        None,
                        rng.randrange(100, 90000),
                        "annual_basic",
                        currency,
                    )
                )
        elif kind == "paused":
            subscriptions.append(
                Sub(f"{cid}_a", cid, start - timedelta(days=60), start, 5000, plan, currency)
            )
            subscriptions.append(
                Sub(f"{cid}_b", cid, start, None, 0, plan, currency, status="paused")
            )
        elif kind == "trial":
            subscriptions.append(
                Sub(f"{cid}_a", cid, start, None, 0, plan, currency, status="trialing")
            )
        elif kind == "ended":
            subscriptions.append(
                Sub(f"{cid}_a", cid, start - timedelta(days=90), start, 7000, plan, currency)
            )
    return customers, subscriptions


def _hand_count(api: ApiHarness) -> list[str]:
    """Run HAND_SQL on the harness's warehouse with that driver's placeholders."""
    params = {"org": api.org_id, "day": TODAY}
    raw = api.warehouse.con.con
    if api.warehouse.name == "postgres":
        sql = HAND_SQL.replace("$org", "%(org)s").replace("$day", "%(day)s::date")
        with raw.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]
    return [row[0] for row in raw.execute(HAND_SQL, params).fetchall()]


def test_high_ltv_annual_subs_matches_hand_sql(api_any: ApiHarness) -> None:
    api = api_any
    scope = Scope(api.org_id, livemode=False)
    customers, subscriptions = _population(seed=20251122, size=600)
    load(api.warehouse, scope, customers, subscriptions)
    created = api.client.post(
        "/v1/cohorts",
        json={
            "name": "High-LTV annual subs",
            "description": "seed example",
            "definition": DEFINITION,
        },
        headers=api.headers(),
    )
    assert created.status_code == 201, created.text
    cohort = created.json()
    assert cohort["name"] == "High-LTV annual subs"

    expected = _hand_count(api)
    # Every criterion narrows a 600-customer population; the seed must still leave members.
    assert len(expected) >= 1, "the population no longer exercises the definition"
    assert cohort["member_count"] == len(expected)

    listed: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = api.client.get(
            f"/v1/cohorts/{cohort['id']}/members", params=params, headers=api.headers()
        )
        body = page.json()
        listed += [s["id"] for s in body["data"]]
        if not body["has_more"]:
            break
        params["starting_after"] = body["next_cursor"]
    assert listed == expected
