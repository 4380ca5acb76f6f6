"""A webhook receiver on 127.0.0.1 for tests: records every request, and can be told to
fail, hang, answer 410 or 429 with Retry-After, redirect, or send a huge body."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """``behave`` decides each answer: ``ok`` (200), ``fail`` (500), ``hang``, ``gone``
    (410), ``busy`` (429 with ``retry_after``), ``redirect`` (302 to ``location``),
    ``huge`` (200 with an endless body), ``garbage`` (a non-HTTP answer)."""

    server: ThreadingHTTPServer
    behave: str = "ok"
    retry_after: int = 1
    location: str = "http://169.254.169.254/latest/meta-data/"
    hang_s: float = 30.0
    delay_s: float = 0.0  # before every "ok" answer
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def received(self, event_id: str | None = None) -> list[Received]:
        with self.lock:
            found = list(self.requests)
        if event_id is None:
            return found
        return [r for r in found if r.headers.get("webhook-id") == event_id]

    def wait_for(self, count: int, *, timeout: float = 20.0, **match: Any) -> list[Received]:
        """Wait until ``count`` requests (whose headers match) arrived; return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                r for r in self.received() if all(r.headers.get(k) == v for k, v in match.items())
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            receiver = holder["r"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.time(),
                    )
                )
            self._answer(receiver)

        def _answer(self, receiver: Receiver) -> None:
            match receiver.behave:
                case "ok":
                    time.sleep(receiver.delay_s)
                    self._send(200, b"thanks")
                case "fail":
                    self._send(500, b"broken")
                case "gone":
                    self._send(410, b"gone")
                case "busy":
                    self._send(429, b"slow down", {"Retry-After": str(receiver.retry_after)})
                case "redirect":
                    self._send(302, b"", {"Location": receiver.location})
                case "hang":
                    time.sleep(receiver.hang_s)
                    self._send(200, b"late")
                case "huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 30))
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        for _ in range(1 << 14):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                case "garbage":
                    self.wfile.write(b"\x00\xffnot http at all\r\n\r\n")
                    self.close_connection = True

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        request_queue_size = 512  # the default 5 refuses connections under a burst

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    holder["r"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
