#!/usr/bin/env bash
# Install (if needed) with the test extras, the Chromium the browser test drives, and run
# ruff and the whole test suite (unit tests, then the real graph over HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test
if ! command -v chromium >/dev/null 2>&1 && [ -z "${SEETHINK_CHROMIUM:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the browser test will fail" >&2
  fi
fi
# PostgreSQL from the distribution's packages: the review store's tests run on it as well as on
# SQLite; the tests start and stop their own server on a temporary port and data directory
bash scripts/install_postgres.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
export HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0
exec .venv/bin/python -m pytest "$@"
