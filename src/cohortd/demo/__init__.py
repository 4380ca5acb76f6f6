"""Realistic, deterministic demo data in the import layout (`cohortd demo-data`)."""

from cohortd.demo.catalog import Shape
from cohortd.demo.generator import (
    DemoConfig,
    DemoData,
    DemoFiles,
    DemoFormat,
    generate,
    iter_chunks,
    write_demo_data,
)

__all__ = [
    "DemoConfig",
    "DemoData",
    "DemoFiles",
    "DemoFormat",
    "Shape",
    "generate",
    "iter_chunks",
    "write_demo_data",
]
