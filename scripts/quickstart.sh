#!/usr/bin/env bash
# Quick start: set up whatever is missing, then run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node apps/client/dist/cli.js manifest check examples/hello.yaml
