#!/usr/bin/env bash
# Create a package skeleton that follows STYLE.md §2: scripts/new-package.sh <name> "<one-line description>"
set -euo pipefail
name="$1"; desc="$2"; dir="packages/$name"
[ -e "$dir" ] && { echo "exists: $dir" >&2; exit 1; }
mkdir -p "$dir/src"
cat > "$dir/package.json" <<JSON
{
  "name": "@p2/$name",
  "version": "0.0.0",
  "description": "$desc",
  "license": "Apache-2.0",
  "type": "module",
  "sideEffects": false,
  "engines": { "node": ">=20.10" },
  "files": ["dist"],
  "main": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "exports": {
    ".": { "types": "./dist/index.d.ts", "default": "./dist/index.js" },
    "./package.json": "./package.json"
  },
  "scripts": { "build": "tsup", "test": "vitest run" },
  "publishConfig": { "access": "public" },
  "dependencies": {}
}
JSON
printf "import { p2Tsup } from '../../tsup.base.ts';\n\nexport default p2Tsup();\n" > "$dir/tsup.config.ts"
printf "import { p2VitestConfig } from '../../vitest.shared.ts';\n\nexport default p2VitestConfig();\n" > "$dir/vitest.config.ts"
printf '{\n  "extends": "../../tsconfig.base.json",\n  "compilerOptions": { "baseUrl": "../.." },\n  "include": ["src"]\n}\n' > "$dir/tsconfig.json"
printf "# @p2/%s\n\n%s\n" "$name" "$desc" > "$dir/README.md"
echo "created $dir"
