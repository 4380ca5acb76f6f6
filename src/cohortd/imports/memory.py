"""The Arrow memory pool an import allocates from."""

from __future__ import annotations

import os
import threading

import pyarrow as pa

_chosen = threading.Lock()


def use_jemalloc() -> str:
    """Make Arrow's jemalloc pool the process's default, unless the user chose a pool
    with ``ARROW_DEFAULT_MEMORY_POOL`` or this build of Arrow has none; returns the pool
    in use. Idempotent.

    Arrow's default pool on Linux is mimalloc, which hands freed pages back to the
    system at once: an import allocates and frees the same few tens of MB per batch, so
    the kernel zeroed fresh pages all along (a tenth of the validation's CPU, measured
    with ``perf``). jemalloc keeps them for a second before returning them."""
    with _chosen:
        if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
            try:
                pool = pa.jemalloc_memory_pool()
            except NotImplementedError:  # not built in (Windows wheels)
                pass
            else:
                if pa.default_memory_pool().backend_name != pool.backend_name:
                    pa.set_memory_pool(pool)
        return str(pa.default_memory_pool().backend_name)
