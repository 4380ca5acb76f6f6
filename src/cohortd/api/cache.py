"""The answer cache: JSON answers of analytic GETs, kept per (organization, mode, data
version, normalised request), bounded in bytes, least recently used out first.

The data version is read in the request's own reader snapshot (``Warehouse.data_version``,
one small query): every committed write to a scope replaces the scope's token in the
warehouse, so an answer is never served after a write to its scope, by this process or
any other sharing the warehouse. The cache itself is per process (memory only).

An endpoint answers through the ``AnswersDep`` dependency in one line::

    return answers.respond(principal.scope, "report", params, lambda: compute())

``respond`` frames the work as an analytic request (derived catch-up, one reader, the
request deadline: ``api.reads``) and returns the JSON ``Response`` (header
``X-Cache: hit`` or ``miss``). A request with ``Cache-Control: no-cache`` is computed
afresh (and its answer kept for the next). A request depending on control-plane rows (a cohort's
definition) puts what it depends on into its key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response

from cohortd.api.reads import analytic
from cohortd.config import Settings
from cohortd.engine import collection
from cohortd.warehouse import Scope, Warehouse


class AnswerCache:
    """At most ``max_bytes`` of answer bodies (0: nothing is kept)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes:  # larger than the whole cache (or cache off)
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._entries[key] = body
            self.bytes += len(body)
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= len(evicted)
                self.evictions += 1

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class Answers:
    """What an analytic GET needs to answer from the cache or compute (``respond``)."""

    warehouse: Warehouse
    cache: AnswerCache
    settings: Settings
    fresh: bool = False  # the client asked for a fresh answer (Cache-Control: no-cache)

    def respond(
        self, scope: Scope, route: str, request: Hashable, compute: Callable[[], Any]
    ) -> Response:
        """The JSON answer of ``compute()`` for ``route`` and the normalised ``request``
        (everything the answer depends on besides the scope's data), from the cache when
        the scope's data has not changed since it was computed."""
        with analytic(self.warehouse, scope, self.settings):
            key = (
                scope.org_id,
                scope.livemode,
                self.warehouse.data_version(scope),
                route,
                request,
            )
            body = None if self.fresh else self.cache.get(key)
            if body is not None:
                return _json(body, "hit")
            with collection.paused():  # many small objects: one collection at the end
                body = orjson.dumps(compute())
            self.cache.put(key, body)
            return _json(body, "miss")


def _json(body: bytes, outcome: str) -> Response:
    return Response(body, media_type="application/json", headers={"X-Cache": outcome})


def get_answers(request: Request) -> Answers:
    state = request.app.state
    directives = request.headers.get("cache-control", "").lower()
    return Answers(state.warehouse, state.answers, state.settings, fresh="no-cache" in directives)


AnswersDep = Annotated[Answers, Depends(get_answers)]
