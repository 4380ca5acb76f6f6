"""The optional ``cohortd[notebook]`` extra: pandas, polars, matplotlib."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRA_HINT = "pip install 'cohortd[notebook]'"


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as missing:
        top = module.split(".")[0]
        raise ImportError(
            f"{top} is not installed: it comes with the notebook extra ({EXTRA_HINT})."
        ) from missing


def pyplot() -> ModuleType:
    """matplotlib.pyplot (the extra's), without choosing a backend for the caller."""
    return require("matplotlib.pyplot")
