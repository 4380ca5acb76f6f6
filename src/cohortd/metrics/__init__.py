"""Subscription metrics (SPEC §8): ``GET /v1/metrics`` and ``GET /v1/metrics/{metric}``."""
