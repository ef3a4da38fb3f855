#!/usr/bin/env bash
# Installs whatever this machine lacks to build, run and test p2, then builds the workspace.
# Idempotent: a second run only checks. Needs root for Debian packages (our CI and hosts run as root).
set -euo pipefail
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
# Debian packages used by tests and by the preparer on a host.
# python3-consul: a Consul client by another project, run against kv-server (packages/kv-server/src/python-consul.compat.test.ts).
# faketime: the e2e clock-jump test.
# runc, busybox-static, umoci, skopeo: container launchables (packages/runc, packages/pods, packages/oci-image tests).
# chromium: the browser packages/ui tests and the ui bench drive through playwright-core.
DEBIAN_PACKAGES=(runit gnupg etcd-server etcd-client iproute2 procps psmisc ca-certificates openssl passwd util-linux tar gzip curl python3-consul faketime runc busybox-static umoci skopeo chromium)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or install them yourself)"; exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then say "Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))"; exit 1; fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  say "installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1
fi

say "installing dependencies"
pnpm install --frozen-lockfile --reporter=silent
say "building"
pnpm exec turbo run build --output-logs=errors-only >&2
