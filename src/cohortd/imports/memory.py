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
        chosen = "ARROW_DEFAULT_MEMORY_POOL" in os.environ
        built_in = "jemalloc" in pa.supported_memory_backends()  # not in Windows wheels
        if not chosen and built_in and pa.default_memory_pool().backend_name != "jemalloc":
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        return str(pa.default_memory_pool().backend_name)
