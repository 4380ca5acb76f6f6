"""Operator metrics in the Prometheus text format (version 0.0.4): requests by route and
status, latency histogram, answer cache, request deadlines, warehouse readers.

They describe the process, not a tenant, so they are not on the API's port: with
``COHORTD_METRICS_PORT`` set, ``serve()`` answers ``GET /metrics`` on that port of
``COHORTD_METRICS_HOST`` (default 127.0.0.1), without a key; unset, there is none.
(The product's ``GET /v1/metrics`` is a different thing: SaaS metrics of an org.)
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

# seconds; Prometheus's cumulative buckets are computed when written
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class RequestMetrics:
    """Counts and latency buckets per (method, route template, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[(method, route, str(status))] += 1
            counts = self._buckets.setdefault((method, route), [0] * (len(BUCKETS) + 1))
            counts[bisect_left(BUCKETS, seconds)] += 1
            self._sums[(method, route)] += seconds

    def render(self) -> list[str]:
        with self._lock:
            counts = dict(self._counts)
            buckets = {k: list(v) for k, v in self._buckets.items()}
            sums = dict(self._sums)
        lines = [
            "# HELP cohortd_http_requests_total HTTP requests answered, by route and status.",
            "# TYPE cohortd_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(counts.items()):
            labels = _labels(method=method, route=route, status=status)
            lines.append(f"cohortd_http_requests_total{{{labels}}} {n}")
        lines += [
            "# HELP cohortd_http_request_duration_seconds Time to answer, by route.",
            "# TYPE cohortd_http_request_duration_seconds histogram",
        ]
        for (method, route), per_bucket in sorted(buckets.items()):
            total = 0
            for bound, n in zip((*BUCKETS, float("inf")), per_bucket, strict=True):
                total += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                labels = _labels(method=method, route=route, le=le)
                lines.append(f"cohortd_http_request_duration_seconds_bucket{{{labels}}} {total}")
            labels = _labels(method=method, route=route)
            lines.append(
                f"cohortd_http_request_duration_seconds_sum{{{labels}}} {sums[(method, route)]!r}"
            )
            lines.append(f"cohortd_http_request_duration_seconds_count{{{labels}}} {total}")
        return lines


def _labels(**values: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in values.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _gauge(name: str, kind: str, help_text: str, value: float) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]


def exposition(state: Any) -> str:
    """Every metric of the app whose ``state`` is given, in the text format."""
    lines = state.request_metrics.render()
    cache = state.answers
    lines += _gauge(
        "cohortd_answer_cache_hits_total", "counter", "Answers served from the cache.", cache.hits
    )
    lines += _gauge(
        "cohortd_answer_cache_misses_total",
        "counter",
        "Answers computed (not in the cache).",
        cache.misses,
    )
    lines += _gauge(
        "cohortd_answer_cache_evictions_total",
        "counter",
        "Answers dropped for room.",
        cache.evictions,
    )
    lines += _gauge("cohortd_answer_cache_bytes", "gauge", "Bytes of answers held.", cache.bytes)
    lines += _gauge("cohortd_answer_cache_entries", "gauge", "Answers held.", len(cache))
    warehouse = getattr(state, "warehouse", None)
    if warehouse is not None:
        lines += _gauge(
            "cohortd_request_deadlines_total",
            "counter",
            "Analytic requests cancelled at the deadline (COHORTD_QUERY_TIMEOUT_SECONDS).",
            warehouse.deadlines_fired,
        )
        lines += _gauge(
            "cohortd_warehouse_readers_in_flight",
            "gauge",
            "Analytic reads running now, each on its own connection.",
            warehouse.readers_in_flight,
        )
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` on its own port, in a thread (``port`` 0: one the OS picks)."""

    def __init__(self, host: str, port: int, render: Callable[[], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes are not logged

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
