"""Readers: one connection per reading unit of work, and the deadline that cancels it.

A ``Warehouse`` answers analytic reads on a connection of their own (a DuckDB cursor, a
pooled PostgreSQL connection), so readers never wait for each other nor for a write;
writes keep the one main connection, serialized by the warehouse's lock. ``Deadline``
watches one reader and, past its time, cancels that reader's statements only.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Generic, TypeVar

T = TypeVar("T")


class Deadline:
    """Past ``seconds``, call ``cancel`` every 20 ms until the block ends (a statement
    that starts after the deadline is stopped too)."""

    def __init__(self, seconds: float, cancel: Callable[[], None]) -> None:
        self.seconds = seconds
        self.cancel = cancel
        self.fired = threading.Event()
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="query-deadline", daemon=True)

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.fired.set()
        while True:
            with suppress(Exception):  # a connection closing meanwhile: nothing to stop
                self.cancel()
            if self._done.wait(0.02):
                return

    @contextmanager
    def armed(self, timeout: Exception) -> Iterator[None]:
        """Run the block under the deadline: an error after it fired becomes ``timeout``."""
        self._watcher.start()
        try:
            yield
        except Exception:
            if self.fired.is_set():
                raise timeout from None
            raise
        finally:
            self._done.set()
            self._watcher.join()


class Pool(Generic[T]):
    """At most ``size`` connections made by ``make``; a caller beyond waits for one."""

    def __init__(self, size: int, make: Callable[[], T], close: Callable[[T], None]) -> None:
        self._make = make
        self._close = close
        self._idle: queue.LifoQueue[T] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max(1, size))
        self._all: list[T] = []
        self._lock = threading.Lock()

    def take(self) -> T:
        self._slots.acquire()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            made = self._make()
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._all.append(made)
        return made

    def give(self, item: T, *, broken: bool = False) -> None:
        if broken:
            with self._lock:
                if item in self._all:
                    self._all.remove(item)
            self._quietly_close(item)
        else:
            self._idle.put(item)
        self._slots.release()

    def _quietly_close(self, item: T) -> None:
        with suppress(Exception):  # already gone
            self._close(item)

    def close(self) -> None:
        with self._lock:
            items, self._all = self._all, []
        for item in items:
            self._quietly_close(item)
