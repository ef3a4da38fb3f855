#!/usr/bin/env bash
# Sets up whatever is missing, then runs every check and test: typecheck, lint, unit tests, e2e.
# The last line is "N passed, N failed[, N skipped]"; the exit code is non-zero on any failure.
set -uo pipefail
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

rm -rf packages/*/.reports apps/*/.reports e2e/.reports scripts/packages/.reports
status=0
echo "== typecheck"; pnpm exec tsc -p tsconfig.json --noEmit || { echo "typecheck FAILED"; status=1; }
echo "== lint"; pnpm exec biome check . || { echo "lint FAILED"; status=1; }
echo "== tests"
pnpm exec turbo run test e2e --continue --concurrency=2 --log-order=grouped --output-logs=new-only || status=1
echo "== packages (publint, attw, knip; publish, install, README examples)"
bash scripts/check-packages.sh || status=1
node scripts/test-summary.mjs --status "$status"
