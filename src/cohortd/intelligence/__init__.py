"""Cohort intelligence (SPEC §3 auto-generation, §4): snapshots, curves, comparison, anomalies."""
