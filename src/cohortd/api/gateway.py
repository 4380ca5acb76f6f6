"""The ASGI layer in front of every route: request ids, access logs, body caps,
authentication, per-key rate limits and Idempotency-Key handling (SPEC §5).

Authentication happens here once per request; ``cohortd.api.deps`` reads the result.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cohortd.api.operator_metrics import RequestMetrics
from cohortd.api.problems import problem_response
from cohortd.api.ratelimit import RateLimiter
from cohortd.errors import (
    AppError,
    BadRequest,
    Conflict,
    FieldError,
    IdempotencyMismatch,
    InvalidParameter,
    PayloadTooLarge,
    RateLimited,
)
from cohortd.idempotency.store import IdempotencyStore, Verdict
from cohortd.ids import new_id
from cohortd.keys.service import Authenticated, authenticate
from cohortd.logs import request_id_var

logger = logging.getLogger("cohortd.access")

WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
_CHUNK = 64 * 1024
_LOGGED_PATH = 512  # characters of the path an access line keeps
# Responses that are never stored for replay: validation failures and server errors.
_NOT_STORED = frozenset({400, 413, 415, 422})
_REPLAYED_HEADERS_SKIP = frozenset({b"x-request-id", b"content-length", b"date", b"server"})


@dataclass
class GatewayConfig:
    max_body_bytes: int
    max_upload_bytes: int
    idempotency: IdempotencyStore
    rate_limiter: RateLimiter
    sessions: Any  # sessionmaker of the control plane
    metrics: RequestMetrics | None = None  # operator metrics (api.operator_metrics)


class Gateway:
    def __init__(self, app: ASGIApp, config: GatewayConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id("req")
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}
        principal: Authenticated | None = None

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = 1
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            _check_text(scope)
            principal = await self._authenticate(scope)
            state = scope.setdefault("state", {})
            state["principal"] = principal
            state["auth_attempted"] = _bearer(scope) is not None
            state["request_id"] = request_id
            await self._handle(scope, receive, send_with_id, principal)
        except AppError as error:
            await _send_problem(scope, receive, send_with_id, error)
        except Exception as error:
            # Type only: the message of an unexpected error may hold SQL or data.
            logger.error("unexpected error", extra={"exception_type": type(error).__name__})
            if not status_holder.get("started"):
                await _send_problem(scope, receive, send_with_id, _Unexpected())
        finally:
            if self.config.metrics is not None:
                route = scope.get("route")  # the matched route, set by the router
                self.config.metrics.observe(
                    str(scope.get("method")),
                    getattr(route, "path", "unmatched"),
                    status_holder["status"],
                    time.perf_counter() - started,
                )
            logger.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": str(scope.get("path", ""))[:_LOGGED_PATH],
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "org_id": principal.org_id if principal else None,
                    "livemode": principal.livemode if principal else None,
                },
            )
            request_id_var.reset(token)

    async def _authenticate(self, scope: Scope) -> Authenticated | None:
        secret = _bearer(scope)
        if secret is None:
            return None

        def lookup() -> Authenticated | None:
            with self.config.sessions() as session:
                return authenticate(session, secret)

        return await anyio.to_thread.run_sync(lookup)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, principal: Authenticated | None
    ) -> None:
        if principal is not None:
            decision = self.config.rate_limiter.hit(principal.key_id)
            if not decision.allowed:
                raise RateLimited(
                    "Too many requests for this API key; retry later.",
                    headers={"Retry-After": str(decision.retry_after)},
                )
        if scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        body = await self._buffer_body(scope, receive)
        try:
            key = _header(scope, b"idempotency-key")
            if key is None or principal is None:
                await self.app(scope, body.receive, send)
                return
            if len(key) > 255 or not key:
                raise BadRequest(
                    "Idempotency-Key must be 1 to 255 characters.",
                    errors=[FieldError(("header", "Idempotency-Key"), "1 to 255 characters")],
                )
            await self._idempotent(scope, body, send, principal, key)
        finally:
            body.close()

    async def _idempotent(
        self, scope: Scope, body: _Body, send: Send, principal: Authenticated, key: str
    ) -> None:
        store = self.config.idempotency
        fingerprint = body.fingerprint(scope)
        claim = await anyio.to_thread.run_sync(
            lambda: store.claim(
                org_id=principal.org_id,
                livemode=principal.livemode,
                key=key,
                fingerprint=fingerprint,
            )
        )
        match claim.verdict:
            case Verdict.mismatch:
                raise IdempotencyMismatch("This Idempotency-Key was used with a different request.")
            case Verdict.running:
                raise Conflict("A request with this Idempotency-Key is still running.")
            case Verdict.replay:
                headers = [(k.encode(), v.encode()) for k, v in claim.headers or []]
                headers.append((b"idempotent-replayed", b"true"))
                await send(
                    {"type": "http.response.start", "status": claim.status, "headers": headers}
                )
                await send({"type": "http.response.body", "body": claim.body or b""})
                return
            case Verdict.proceed:
                pass
        record_id = claim.record_id
        assert record_id is not None
        captured = _Capture(send)
        try:
            await self.app(scope, body.receive, captured.send)
        except BaseException:
            await anyio.to_thread.run_sync(lambda: store.release(record_id))
            raise
        if captured.status in _NOT_STORED or captured.status >= 500:
            await anyio.to_thread.run_sync(lambda: store.release(record_id))
        else:
            await anyio.to_thread.run_sync(
                lambda: store.complete(
                    record_id,
                    status=captured.status,
                    headers=captured.headers,
                    body=captured.body,
                )
            )
        # the answer's last part leaves only once it is stored: a duplicate sent right
        # after the client has its answer is replayed, never told "still running"
        await captured.finish()

    async def _buffer_body(self, scope: Scope, receive: Receive) -> _Body:
        content_type = (_header(scope, b"content-type") or "").lower()
        cap = (
            self.config.max_upload_bytes
            if content_type.startswith("multipart/")
            else self.config.max_body_bytes
        )
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise PayloadTooLarge(f"The request body is larger than {cap} bytes.")
        body = _Body()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            if body.size + len(chunk) > cap:
                body.close()
                raise PayloadTooLarge(f"The request body is larger than {cap} bytes.")
            body.write(chunk)
            more = message.get("more_body", False)
        body.rewind()
        return body


class _Unexpected(AppError):
    detail_text = "An unexpected error occurred. Quote the request_id when reporting it."

    def __init__(self) -> None:
        super().__init__(self.detail_text)


class _Body:
    """A request body spooled to disk past 1 MiB, hashed as it arrives, replayed in chunks."""

    def __init__(self) -> None:
        # closed by close(), called when the request ends
        self.file = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
        self.digest = hashlib.sha256()
        self.size = 0
        self._sent = False

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def rewind(self) -> None:
        self.file.seek(0)

    def fingerprint(self, scope: Scope) -> str:
        head = f"{scope['method']} {scope['path']}?{scope.get('query_string', b'').decode()}\n"
        return hashlib.sha256(head.encode() + self.digest.digest()).hexdigest()

    async def receive(self) -> Message:
        if self._sent:
            return {"type": "http.disconnect"}
        chunk = self.file.read(_CHUNK)
        more = len(chunk) == _CHUNK
        if not more:
            self._sent = True
        return {"type": "http.request", "body": chunk, "more_body": more}

    def close(self) -> None:
        self.file.close()


class _Capture:
    """Passes a response through while keeping a copy for the idempotency store.

    The last body message is held back until ``finish()``, so that the store is written
    before the client can see the whole answer."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._last: Message | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message.get("headers", [])
                if k.lower() not in _REPLAYED_HEADERS_SKIP
            ]
        elif message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self._last = message
                return
        await self._send(message)

    async def finish(self) -> None:
        """Send the held-back last part of the answer."""
        if self._last is not None:
            last, self._last = self._last, None
            await self._send(last)

    @property
    def body(self) -> bytes:
        return b"".join(self._chunks)


def _check_text(scope: Scope) -> None:
    """The path and every query parameter are UTF-8 text without NUL: anything else
    (``%00``, overlong or truncated UTF-8, an encoded lone surrogate) is a 400 naming
    where, before it can reach a database, a log line or a handler."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    if not _plain_text(unquote_to_bytes(raw_path)):
        raise BadRequest(
            "The path holds a NUL character or is not valid UTF-8.",
            errors=[FieldError(("path",), "NUL character or invalid UTF-8")],
        )
    query: bytes = scope.get("query_string", b"")
    if not query:
        return
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        raw_name = unquote_to_bytes(name.replace(b"+", b" "))
        if _plain_text(raw_name) and _plain_text(unquote_to_bytes(value.replace(b"+", b" "))):
            continue
        shown = raw_name.decode("utf-8", "replace").replace("\x00", "?")[:64]
        raise InvalidParameter(shown, "holds a NUL character or is not valid UTF-8")


def _plain_text(raw: bytes) -> bool:
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")  # strict: overlong forms and encoded surrogates fail
    except UnicodeDecodeError:
        return False
    return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


async def _send_problem(scope: Scope, receive: Receive, send: Send, error: AppError) -> None:
    await problem_response(error)(scope, receive, send)
