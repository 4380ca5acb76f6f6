"""cohortd: self-hostable cohort analytics for subscription businesses."""

__version__ = "0.1.0"
