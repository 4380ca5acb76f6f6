#!/usr/bin/env bash
# The dashboard tests drive Debian's chromium through Playwright (its own browser
# downloads cannot work here). Install the Debian package when it is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "cohortd: installing Debian's chromium for the browser tests..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) >&2
else
  echo "cohortd: /usr/bin/chromium is missing; install Debian's chromium package for the browser tests" >&2
fi
