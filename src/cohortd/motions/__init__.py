"""Motions (Recurr): campaigns that target a cohort."""
