"""Cohorts (SPEC §3): definitions in the control plane, membership evaluated when asked."""
