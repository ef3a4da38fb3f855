#!/usr/bin/env bash
# The packages as published: publint, are-the-types-wrong and knip (scripts/packages/lint.test.ts),
# then a local registry, each package installed alone and its README example run
# (scripts/packages/publish.test.ts). Needs the workspace built. Reports land in scripts/packages/.reports.
set -uo pipefail
cd "$(dirname "$0")/packages"
exec ../../node_modules/.bin/vitest run --root . "$@"
