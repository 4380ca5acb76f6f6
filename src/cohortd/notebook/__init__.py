"""The notebook API: cohortd's engine from Python, no server needed.

``cohortd.open(data_dir=..., org=..., mode="test")`` returns a ``Workspace`` whose
``report()``, ``snapshots()``, ``curve()``, ``cohorts()``, ``cohort()`` (and
``metrics()`` once the metrics engine exists) answer with the API's numbers and turn
into Arrow, pandas, polars or Parquet, and draw with matplotlib (the
``cohortd[notebook]`` extra). See docs/python.md.
"""

from cohortd.notebook.answers import Answer, Cohorts, Curve, Members, Metrics, Report, Snapshots
from cohortd.notebook.loading import create_organization
from cohortd.notebook.loading import open_workspace as open
from cohortd.notebook.workspace import Workspace

__all__ = [
    "Answer",
    "Cohorts",
    "Curve",
    "Members",
    "Metrics",
    "Report",
    "Snapshots",
    "Workspace",
    "create_organization",
    "open",
]
