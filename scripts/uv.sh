#!/usr/bin/env bash
# Runs uv, installing it first (from PyPI, into the current Python) when it is missing.
set -euo pipefail
if command -v uv >/dev/null 2>&1; then
  exec uv "$@"
fi
if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "cohortd: installing uv (the project's package manager) with pip..." >&2
  python3 -m pip install --quiet "uv>=0.5" >&2
fi
exec python3 -m uv "$@"
