#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types (all of src/cohortd), every test on
# SQLite/DuckDB and PostgreSQL, and the engine's tests on Spark (the `spark` extra, Java 17).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=scripts/uv.sh

"$UV" sync --frozen --extra spark
scripts/ensure-chromium.sh
"$UV" run --extra spark ruff check src tests benchmarks
"$UV" run --extra spark ruff format --check src tests benchmarks
"$UV" run --extra spark mypy src/cohortd
"$UV" run --extra spark pytest "$@"
