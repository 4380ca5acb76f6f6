"""cohortd: self-hostable cohort analytics for subscription businesses.

``cohortd.Client`` / ``cohortd.AsyncClient`` talk to a server over HTTP;
``cohortd.open(...)`` answers from the planes directly (a notebook, no server). Both are
imported on first use, so ``import cohortd`` stays cheap and the client never imports
the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cohortd.client import AsyncClient, Client
    from cohortd.notebook import open

__all__ = ["AsyncClient", "Client", "__version__", "open"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "AsyncClient"):
        from cohortd import client

        return getattr(client, name)
    if name == "open":
        from cohortd.notebook import open as open_workspace

        return open_workspace
    raise AttributeError(f"module 'cohortd' has no attribute {name!r}")
