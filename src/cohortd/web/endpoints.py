"""The dashboard's routes under ``/app``: one router made of the pages' routers."""

from __future__ import annotations

from fastapi import APIRouter

from cohortd.web import (
    auth_pages,
    cohort_pages,
    import_pages,
    intel_pages,
    keys_pages,
    overview_pages,
    retention_pages,
    webhook_pages,
)

router = APIRouter(include_in_schema=False)
router.include_router(auth_pages.router)
router.include_router(overview_pages.router)
router.include_router(retention_pages.router)
router.include_router(keys_pages.router)
router.include_router(cohort_pages.router)
router.include_router(import_pages.router)
router.include_router(intel_pages.router)
router.include_router(webhook_pages.router)
