"""The heatmap lays out the report's own numbers (no browser): which field a switch
shows, how a value is written, its colour step, and the CSV of the same envelope."""

from __future__ import annotations

from typing import Any

from cohortd.web import heatmap
from cohortd.web.heatmap import Measure, View
from cohortd.web.report_source import ReportForm, as_csv


def _period(**values: Any) -> dict[str, Any]:
    base = {
        "mrr_retained": 0.0,
        "customers_retained": 0,
        "mrr_retention": 0.0,
        "customer_retention": 0.0,
        "mrr_retention_relative": 0.0,
        "customer_retention_relative": 0.0,
        "mrr_churn": 0.0,
        "customer_churn": 0.0,
        "mrr_churn_relative": 0.0,
        "customer_churn_relative": 0.0,
        "complete": True,
        "mrr_retained_gross": 0.0,
        "mrr_retention_gross": 0.0,
    }
    return {**base, **values}


# A hand-made envelope: one monthly cohort of 2 customers paying 200.00 USD in all.
# Month 0: both pay, 200.00 -> 100 %. Month 1 (not over yet): one left, the other
# upgraded to 150.00: MRR 150/200 = 75 %, customers 1/2 = 50 %, churn 25 % / 50 %,
# gross = min(150, its own 100 initial) = 100 -> 50 %.
ENVELOPE: dict[str, Any] = {
    "interval": "month",
    "breakdown": None,
    "currency": "USD",
    "result": {
        "list": [
            {
                "cohort_group": "2026-01-31",
                "initial_mrr": 200.0,
                "initial_customers": 2,
                "periods": [
                    _period(
                        mrr_retained=200.0,
                        customers_retained=2,
                        mrr_retention=100.0,
                        customer_retention=100.0,
                        mrr_retention_relative=100.0,
                        customer_retention_relative=100.0,
                        mrr_retained_gross=200.0,
                        mrr_retention_gross=100.0,
                    ),
                    _period(
                        mrr_retained=150.0,
                        customers_retained=1,
                        mrr_retention=75.0,
                        customer_retention=50.0,
                        mrr_retention_relative=75.0,
                        customer_retention_relative=50.0,
                        mrr_churn=25.0,
                        customer_churn=50.0,
                        mrr_churn_relative=25.0,
                        customer_churn_relative=50.0,
                        complete=False,
                        mrr_retained_gross=100.0,
                        mrr_retention_gross=50.0,
                    ),
                ],
            },
            {"cohort_group": "average", "periods": [_period(mrr_retention=120.0)]},
        ]
    },
}


def test_mrr_retention_cells_are_the_reports_values() -> None:
    table = heatmap.build(ENVELOPE, measure=Measure.mrr, view=View.retention)
    assert table.field == "mrr_retention" and table.unit == "%"
    assert table.columns == (0, 1)
    cohort, average = table.rows
    assert [c.value for c in cohort.cells] == [100.0, 75.0]
    assert [c.text for c in cohort.cells] == ["100.00%", "75.00%"]
    # Colour steps of 10 points: 100 -> 10, 75 -> 7; above 100 (expansion) -> 11.
    assert [c.level for c in cohort.cells] == [10, 7]
    assert [c.complete for c in cohort.cells] == [True, False]
    assert average.is_average and average.initial_mrr is None
    assert average.cells[0].level == 11
    assert cohort.initial_customers == 2 and cohort.initial_mrr == 200.0


def test_every_switch_shows_its_field() -> None:
    expected = {
        (Measure.customers, View.retention): ("customer_retention", [100.0, 50.0], "50.00%"),
        (Measure.mrr, View.relative): ("mrr_retention_relative", [100.0, 75.0], "75.00%"),
        (Measure.customers, View.churn): ("customer_churn", [0.0, 50.0], "50.00%"),
        (Measure.mrr, View.churn_relative): ("mrr_churn_relative", [0.0, 25.0], "25.00%"),
        # Gross is an MRR measure: the customers switch shows the GRR triangle too.
        (Measure.customers, View.gross): ("mrr_retention_gross", [100.0, 50.0], "50.00%"),
        (Measure.mrr, View.amount): ("mrr_retained", [200.0, 150.0], "150.00 USD"),
        (Measure.customers, View.amount): ("customers_retained", [2, 1], "1"),
    }
    for (measure, view), (field, values, last_text) in expected.items():
        table = heatmap.build(ENVELOPE, measure=measure, view=view)
        cells = table.rows[0].cells
        assert table.field == field
        assert [c.value for c in cells] == values
        assert cells[-1].text == last_text


def test_hover_details_list_the_cells_exact_numbers() -> None:
    cell = heatmap.build(ENVELOPE, measure=Measure.mrr, view=View.retention).rows[0].cells[1]
    details = dict(zip(heatmap.DETAIL_LABELS, cell.details, strict=True))
    assert details["MRR retained"] == "150.00 USD"
    assert details["Customers retained"] == "1"
    assert details["Customer churn %"] == "50.00%"
    assert details["Gross MRR retained"] == "100.00 USD"


def test_numbers_are_written_with_two_decimals_and_thousands() -> None:
    assert heatmap.format_number(1234567.5, "EUR") == "1,234,567.50 EUR"
    assert heatmap.format_number(-12.345, "%") == "-12.35%"  # already rounded by the API
    assert heatmap.format_number(12000, "") == "12,000"


def test_csv_is_one_line_per_cohort_and_period() -> None:
    lines = as_csv(ENVELOPE).splitlines()
    header = lines[0].split(",")
    assert header[:5] == [
        "cohort_group",
        "initial_customers",
        "initial_mrr",
        "period",
        "mrr_retained",
    ]
    # 2 periods of the cohort + 1 of the average row.
    assert len(lines) == 1 + 3
    second = dict(zip(header, lines[2].split(","), strict=True))
    assert second["cohort_group"] == "2026-01-31" and second["period"] == "1"
    assert second["mrr_retention"] == "75.0" and second["complete"] == "false"
    average = dict(zip(header, lines[3].split(","), strict=True))
    assert average["initial_customers"] == "" and average["mrr_retention"] == "120.0"


def test_form_sends_only_the_given_parameters_by_their_api_names() -> None:
    form = ReportForm(interval="quarter", baseCurrency="EUR", fix_fx="true", region="dach")
    assert form.api_params() == {
        "interval": "quarter",
        "baseCurrency": "EUR",
        "fix_fx": "true",
        "region": "dach",
    }


def test_anomaly_links_point_at_their_evidence() -> None:
    from cohortd.web.intel_pages import snapshot_anchor

    # low_nrr / accelerating_churn: the period's first day is the snapshot row's id.
    assert snapshot_anchor("2026-10-01") == "snap-2026-10-01"
    # health_decline: the run's day -> the monthly snapshot holding it.
    assert snapshot_anchor("2026-11-22") == "snap-2026-11-01"
    # lagging_vintage: an age ("M6") -> the vintage curve.
    assert snapshot_anchor("M6") == "curve-chart"


def test_hover_details_are_written_once_per_cell() -> None:
    table = heatmap.build(ENVELOPE, measure=Measure.mrr, view=View.retention)
    payload = table.hover_details()
    assert payload["labels"][:2] == ["MRR retained", "Customers retained"]
    # rows -> cells -> one text per label, the cohort's month 1 as in the hand example.
    assert list(payload["rows"][0][1][:3]) == ["150.00 USD", "1", "75.00%"]
    assert table.title == "MRR retention %"
    assert len(payload["rows"]) == 2 and len(payload["rows"][1]) == 1


def test_a_report_too_big_to_draw_is_offered_as_csv() -> None:
    periods = [_period(mrr_retention=100.0)] * (heatmap.MAX_DRAWN_CELLS + 1)
    big = {**ENVELOPE, "result": {"list": [{"cohort_group": "average", "periods": periods}]}}
    table = heatmap.build(big, measure=Measure.mrr, view=View.retention)
    assert table.cell_count == heatmap.MAX_DRAWN_CELLS + 1 and not table.drawable
    assert heatmap.build(ENVELOPE, measure=Measure.mrr, view=View.retention).drawable


def test_row_cells_are_written_as_escaped_html() -> None:
    table = heatmap.build(ENVELOPE, measure=Measure.mrr, view=View.amount)
    html = str(table.rows[0].cells_html())
    assert html == (
        '<td class="cell l10" data-k="0" data-value="200.0">200.00 USD</td>'
        '<td class="cell l7 incomplete" data-k="1" data-value="150.0">150.00 USD'
        '<span class="mark" title="incomplete period"> ◔</span></td>'
    )
    hostile = {**ENVELOPE, "currency": "<b>"}
    written = str(
        heatmap.build(hostile, measure=Measure.mrr, view=View.amount).rows[0].cells_html()
    )
    assert "<b>" not in written and "200.00 &lt;b&gt;" in written
