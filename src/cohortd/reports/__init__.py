"""The cohort retention report (SPEC §2): ``GET /v1/reports/cohort`` and the CLI."""
