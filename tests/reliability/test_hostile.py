"""Hostile strings everywhere: NUL bytes, lone surrogates, overlong UTF-8, 1 MB values and
``%00`` in paths, parameters, headers and JSON fields get a 4xx, never a 5xx, and never a
log line that is not one JSON object. Property tests (Hypothesis) over the parsers of
cursors, dates, currencies and ids: every input gives a value or a 400 naming the
parameter, never another exception."""

from __future__ import annotations

import json
import socket
import string
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohortd.api.bounds import MAX_DAY, MIN_DAY
from cohortd.api.gateway import _check_text
from cohortd.api.schemas import has_bad_text
from cohortd.engine.money import CURRENCY_EXPONENTS
from cohortd.engine.periods import Interval
from cohortd.errors import AppError, InvalidParameter
from cohortd.intelligence.service import parse_day, parse_period
from cohortd.reports.service import parse_currency_code, parse_date
from tests.reliability.conftest import Seeded

HOSTILE = [
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate
    "\udfff tail",
    "\u202e\u0000",
    "é" * 10,
    "\U0001f600" * 3,
    "x" * (1 << 20),  # 1 MB
]
HOSTILE_BYTES = [b"%00", b"%C0%AE", b"%C0%80", b"%ED%A0%80", b"%FF%FE", b"%E2%82", b"%25%30%30"]


def _hostile_requests(seeded: Seeded) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, request kwargs) for every kind of input of a few operations."""
    ids = seeded.ids
    out: list[tuple[str, str, dict[str, Any]]] = []
    for raw in HOSTILE_BYTES:
        text = raw.decode()
        out += [
            ("GET", f"/v1/subscribers/{text}", {}),
            ("GET", f"/v1/cohorts/{text}/members", {}),
            ("GET", f"/v1/subscribers?starting_after={text}", {}),
            ("GET", f"/v1/cohorts?as_of={text}", {}),
            ("GET", f"/v1/reports/cohort?date={text}&region={text}", {}),
            ("GET", f"/v1/anomalies?cohort_id={text}", {}),
            ("GET", f"/v1/imports/{text}", {}),
            ("DELETE", f"/v1/cohorts/{text}", {}),
            ("GET", f"/v1/motions?{text}={text}", {}),
        ]
    for value in HOSTILE:
        escaped = json.dumps(value)  # as a JSON client sends it: \u0000, \ud800 escapes
        short = value[:2000].encode("utf-8", "surrogatepass")  # a surrogate as its 3 bytes
        out += [
            ("POST", "/v1/cohorts", {"body": f'{{"name": {escaped}, "definition": {{}}}}'}),
            (
                "PATCH",
                f"/v1/cohorts/{ids['cohort_id']}",
                {"body": f'{{"description": {escaped}}}'},
            ),
            (
                "POST",
                "/v1/exchange_rates",
                {"body": f'[{{"date": {escaped}, "currency": {escaped}, "rate": {escaped}}}]'},
            ),
            ("PUT", "/v1/settings/anomalies", {"body": f"{{{escaped}: 1}}"}),
            (
                "PATCH",
                f"/v1/subscribers/{ids['subscriber_id']}",
                {"body": f'{{"tags": [{escaped}], "metadata": {{{escaped}: {escaped}}}}}'},
            ),
            ("GET", "/v1/subscribers?tag=" + quote(short, safe=""), {}),
            ("GET", "/v1/reports/cohort?industry=" + quote(short, safe=""), {}),
        ]
    header_values = ["x" * 8000, "\u00e9\u00ff", "%00", "caf\u00e9"]
    for value in header_values:
        out += [
            ("POST", "/v1/cohorts", {"headers": {"Idempotency-Key": value}, "json": {}}),
            ("GET", "/v1/cohorts", {"headers": {"X-Request-Id": value, "Accept": value}}),
        ]
    return out


def _raw_status(seeded: Seeded, target: str) -> int | None:
    """The status of ``GET target`` sent over a plain socket (no client caps its length),
    or None when the server closes the connection without an answer."""
    host, port = seeded.url.removeprefix("http://").split(":")
    head = (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {seeded.keys['admin']}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        try:
            sock.sendall(head.encode())
            first = sock.recv(64)
        except (ConnectionResetError, BrokenPipeError):
            return None
    return int(first.split()[1]) if first.startswith(b"HTTP/1.1 ") else None


def test_hostile_inputs_get_a_4xx_and_the_log_stays_json(seeded: Seeded) -> None:
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=seeded.url, timeout=60) as client:
        for method, url, kwargs in _hostile_requests(seeded):
            headers = {**seeded.headers(), **kwargs.get("headers", {})}
            raw_headers = {k: v.encode("utf-8") for k, v in headers.items()}  # bytes as sent
            body = kwargs.get("body")
            content = body.encode("utf-8", "surrogatepass") if body is not None else None
            if content is not None:
                raw_headers["Content-Type"] = b"application/json"
            request = client.build_request(
                method, url, headers=raw_headers, content=content, json=kwargs.get("json")
            )
            try:
                response = client.send(request)
            except httpx.RemoteProtocolError:  # the HTTP layer closed it: no answer, no 5xx
                continue
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (method, url[:200], response.text[:300])
            if response.status_code >= 400 and response.status_code != 431:
                # 431 comes from the HTTP layer (h11) before cohortd sees the request
                assert response.headers["content-type"].startswith("application/problem+json")
    for target in ("/v1/cohorts?limit=" + "9" * (1 << 20), "/v1/" + "a" * (1 << 20)):
        status = _raw_status(seeded, target)  # a 1 MB parameter, a 1 MB path
        assert status is None or 400 <= status < 500, status
    assert sum(n for s, n in statuses.items() if 400 <= s < 500) >= 100, statuses
    lines = seeded.log_file.read_text(encoding="utf-8").splitlines()
    assert lines, "the server logged nothing"
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict) and "message" in record
        assert seeded.keys["admin"] not in line


# -- property tests over the parsers -----------------------------------------------------
TEXT = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A-?\d{1,6}-\d{1,3}(-\d{1,3})?\Z"),
    st.dates().map(date.isoformat),
    st.sampled_from(["0000-01", "4672-01-20", "2024-Q5", "2024-13", "1899-12-31", "2200-12-31"]),
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXT)
def test_report_dates_parse_or_name_the_parameter(value: str) -> None:
    try:
        day = parse_date(value)
    except InvalidParameter as error:
        assert error.parameter == "date"
    else:
        assert MIN_DAY <= day <= MAX_DAY


@FAST
@given(TEXT, st.sampled_from([Interval.month, Interval.quarter]))
def test_periods_and_days_parse_or_name_the_parameter(value: str, interval: Interval) -> None:
    for name in ("from", "to"):
        try:
            day = parse_day(name, value)
        except InvalidParameter as error:
            assert error.parameter == name
        else:
            assert day is None or MIN_DAY <= day <= MAX_DAY
    try:
        parse_period(value, interval, date(2026, 12, 7))
    except InvalidParameter as error:
        assert error.parameter == "period"


@FAST
@given(st.one_of(st.text(max_size=6), st.sampled_from(sorted(CURRENCY_EXPONENTS))))
def test_currency_codes_parse_or_name_the_parameter(value: str) -> None:
    try:
        code = parse_currency_code("baseCurrency", value)
    except InvalidParameter as error:
        assert error.parameter == "baseCurrency"
    else:
        assert code in CURRENCY_EXPONENTS and code == value.strip().upper()


@FAST
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_cursors_and_ids_pass_the_gateway_only_as_utf8_without_nul(
    raw_path: bytes, raw_query: bytes
) -> None:
    path = b"/v1/subscribers/" + quote(raw_path, safe="").encode()
    query = b"starting_after=" + quote(raw_query, safe="").encode()
    scope = {"raw_path": path, "path": "", "query_string": query}
    try:
        _check_text(scope)
    except AppError as error:
        assert error.status == 400
        assert not _clean(raw_path) or not _clean(raw_query)
        if _clean(raw_path):
            assert error.errors[0].loc == ("query", "starting_after")
    else:
        assert _clean(raw_path) and _clean(raw_query)


def _clean(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in raw


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_text_is_bad_exactly_when_no_database_could_store_it(value: Any) -> None:
    def strings(v: Any) -> list[str]:
        if isinstance(v, str):
            return [v]
        if isinstance(v, list):
            return [s for item in v for s in strings(item)]
        return [s for k, item in v.items() for s in [k, *strings(item)]]

    def storable(s: str) -> bool:
        return "\x00" not in s and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in s)

    assert has_bad_text(value) == (not all(storable(s) for s in strings(value)))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.text(string.printable))
def test_any_cursor_over_http_is_a_page_or_a_4xx(seeded_client: httpx.Client, cursor: str) -> None:
    for url in ("/v1/subscribers", "/v1/exchange_rates", "/v1/cohorts"):
        response = seeded_client.get(url, params={"starting_after": cursor, "limit": 2})
        assert response.status_code in (200, 400), (url, cursor, response.text[:200])
        if response.status_code == 200:
            assert response.json()["object"] == "list"


@pytest.fixture(scope="module")
def seeded_client(seeded: Seeded) -> Any:
    with seeded.client() as client:
        yield client
