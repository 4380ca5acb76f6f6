"""One delivery attempt over HTTP: pinned to the checked address, capped in time and size.

The request goes to the address ``ssrf.check_url`` checked (the URL's host travels in
the ``Host`` header and, for https, as TLS SNI and the name the certificate must match).
Redirects are not followed. The whole attempt, answer included, must end within the
timeout; at most ``KEEP_BYTES`` of the answer are read and kept.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from cohortd.db import utcnow
from cohortd.webhooks.ssrf import Target

KEEP_BYTES = 2048


@dataclass(frozen=True, slots=True)
class AttemptResult:
    succeeded: bool
    status: int | None
    duration_ms: int
    error: str | None
    body: str | None
    retry_after: float | None = None


def pinned_request(target: Target) -> tuple[str, dict[str, str], dict[str, object]]:
    """URL (to the checked address), extra headers and httpx extensions of a request."""
    address = ipaddress.ip_address(target.address.split("%")[0])
    literal = f"[{address}]" if address.version == 6 else str(address)
    default = 443 if target.scheme == "https" else 80
    host = target.host if ":" not in target.host else f"[{target.host}]"
    host_header = host if target.port == default else f"{host}:{target.port}"
    url = f"{target.scheme}://{literal}:{target.port}{target.path}"
    extensions: dict[str, object] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host
    return url, {"Host": host_header}, extensions


async def attempt(
    client: httpx.AsyncClient,
    target: Target,
    *,
    headers: dict[str, str],
    body: bytes,
    timeout: float,
) -> AttemptResult:
    """POST ``body``; success = a 2xx within ``timeout``."""
    url, extra, extensions = pinned_request(target)
    started = time.perf_counter()
    status: int | None = None
    kept = b""
    retry_after: float | None = None
    try:
        async with asyncio.timeout(timeout):
            request = client.build_request(
                "POST", url, headers={**headers, **extra}, content=body, extensions=extensions
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                status = response.status_code
                retry_after = _retry_after(response.headers.get("retry-after"))
                async for piece in response.aiter_raw():
                    kept += piece[: KEEP_BYTES - len(kept)]
                    if len(kept) >= KEEP_BYTES:
                        break  # the rest is never read
            finally:
                await response.aclose()
    except TimeoutError:
        return _result(status, started, "timed out", kept, retry_after)
    except httpx.HTTPError as error:
        return _result(status, started, f"connection failed ({type(error).__name__})", kept, None)
    if status is not None and 300 <= status < 400:
        return _result(status, started, "redirect not followed", kept, retry_after)
    if status is not None and not 200 <= status < 300:
        return _result(status, started, f"answered {status}", kept, retry_after)
    return _result(status, started, None, kept, retry_after)


def _result(
    status: int | None, started: float, error: str | None, kept: bytes, retry_after: float | None
) -> AttemptResult:
    return AttemptResult(
        succeeded=error is None,
        status=status,
        duration_ms=int((time.perf_counter() - started) * 1000),
        error=error,
        body=kept.decode("utf-8", errors="replace") if kept else None,
        retry_after=retry_after,
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utcnow()).total_seconds())
