# Generated from _async_transport.py by scripts/unasync_client.py: do not edit.
"""The blocking HTTP transport and the lazy page iterator (generated
from its ``_async_`` twin by ``scripts/unasync_client.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

import httpx
from pydantic import BaseModel

from cohortd.client._common import (
    USER_AGENT,
    WRITE_METHODS,
    RetryPolicy,
    new_idempotency_key,
    query,
    resolve_api_key,
    resolve_base_url,
    retryable,
)
from cohortd.client.errors import ApiConnectionError, error_from_response
from cohortd.client.models import Page

M = TypeVar("M", bound=BaseModel)


class Transport:
    """One authenticated connection pool with retries, idempotency keys and typed errors."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        headers = {
            "Authorization": f"Bearer {resolve_api_key(api_key)}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self.retry = retry or RetryPolicy()
        self._owned = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._http.base_url = httpx.URL(resolve_base_url(base_url).rstrip("/") + "/")
        self._http.headers.update(headers)

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
        data: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send once, and again on 429/503 (or a 409 for a duplicate still running) as the
        retry policy allows. A write carries an ``Idempotency-Key`` (the given one, else a
        new one) that every retry reuses."""
        headers: dict[str, str] = {}
        if method.upper() in WRITE_METHODS:
            headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    path.lstrip("/"),
                    params=query(params or {}),
                    json=json,
                    files=files,
                    data=data,
                    headers=headers,
                )
            except httpx.TransportError as error:
                raise ApiConnectionError(f"{method} {path}: {type(error).__name__}") from error
            if retryable(response.status_code, response.content):
                wait = self.retry.delay(attempt, response.headers.get("Retry-After"))
                if wait is not None:
                    time.sleep(wait)
                    attempt += 1
                    continue
            if response.is_error:
                raise error_from_response(response)
            return response

    def send(self, model: type[M], method: str, path: str, **options: Any) -> M:
        """``request`` and parse the answer as ``model`` (exact decimals from the JSON text)."""
        response = self.request(method, path, **options)
        return model.model_validate_json(response.content)

    def send_json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """``request`` and return the decoded JSON object (health checks)."""
        response = self.request(method, path, **options)
        return cast(dict[str, Any], response.json())

    def pager(self, model: type[M], path: str, params: Mapping[str, Any] | None = None) -> Pager[M]:
        return Pager(self, model, path, dict(params or {}))


class Pager(Generic[M]):
    """A cursor-paged list, fetched lazily: iterate it for items, ``pages()`` for pages.

    Nothing is requested until iteration starts; each next page is asked for only when
    the previous one is used up."""

    def __init__(
        self, transport: Transport, model: type[M], path: str, params: dict[str, Any]
    ) -> None:
        self._transport = transport
        self._page_model = cast(type[Page[M]], Page[model])  # type: ignore[valid-type]
        self._path = path
        self._params = params

    def first_page(self) -> Page[M]:
        """Only the first page (``limit`` items at most)."""
        return self._transport.send(self._page_model, "GET", self._path, params=self._params)

    def pages(self) -> Iterator[Page[M]]:
        params = dict(self._params)
        while True:
            page = self._transport.send(self._page_model, "GET", self._path, params=params)
            yield page
            if not page.has_more or not page.next_cursor:
                return
            # backwards paging (ending_before) goes on backwards
            direction = "ending_before" if params.get("ending_before") else "starting_after"
            params[direction] = page.next_cursor

    def _items(self) -> Iterator[M]:
        for page in self.pages():
            for item in page.data:
                yield item

    def __iter__(self) -> Iterator[M]:
        return self._items()

    def to_list(self) -> list[M]:
        """Every item of every page."""
        return [item for item in self._items()]
