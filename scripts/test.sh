#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types (all of src/cohortd), every test on SQLite/DuckDB and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=scripts/uv.sh

"$UV" sync --frozen
scripts/ensure-chromium.sh
"$UV" run ruff check src tests benchmarks
"$UV" run ruff format --check src tests benchmarks
"$UV" run mypy src/cohortd
"$UV" run pytest "$@"
