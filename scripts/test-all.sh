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
# Apps are wiring (docs/architecture.md): a source file past 250 lines holds logic for a package.
echo "== apps stay wiring"
long="$(find apps/*/src -name '*.ts' ! -name '*.test.ts' -exec wc -l {} + | awk '$2 != "total" && $1 > 250')"
if [ -n "$long" ]; then echo "$long"; echo "apps FAILED: move the logic of these files to a package"; status=1; fi
echo "== tests"
pnpm exec turbo run test e2e --continue --concurrency=2 --log-order=grouped --output-logs=new-only || status=1
echo "== packages (publint, attw, knip; publish, install, README examples)"
bash scripts/check-packages.sh || status=1
node scripts/test-summary.mjs --status "$status"
