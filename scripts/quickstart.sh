#!/usr/bin/env bash
# Quick start: set up whatever is missing, bootstrap this host (the embedded store and the preparer,
# both as p2 pods), deploy the example app, and show where it answers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# `p2` on PATH for the rest of this host's life (a link to this checkout's build).
ln -sfn "$PWD/apps/client/dist/cli.js" /usr/local/bin/p2
p2() { node apps/client/dist/cli.js "$@"; }
node_name="$(hostname)"
artifacts=/var/lib/p2/artifacts

echo "== checking the example manifest"
p2 manifest check examples/hello.yaml

echo "== bootstrapping ${node_name}"
# The store then refuses anyone without its token (/etc/p2/consul.token, root only); p2 below runs
# as root and finds it with no flag.
node apps/bootstrap/dist/cli.js --node-name "$node_name" --artifact-dir "$artifacts"

echo "== building the example app's Hoist artifact"
mkdir -p "$artifacts"
version="$(cd examples/hello-app && find . -type f | LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-40)"
artifact="$artifacts/hello_${version}.tar.gz"
[ -f "$artifact" ] || tar -czf "$artifact" -C examples/hello-app .
sed "0,/location: .*/s##location: file://${artifact}#" examples/hello.yaml > /var/lib/p2/hello.yaml

echo "== scheduling pod hello on ${node_name}"
p2 schedule /var/lib/p2/hello.yaml --node "$node_name"

printf 'waiting for hello to answer'
for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:8080/_status >/dev/null 2>&1; then break; fi
  printf '.'; sleep 0.5
done
for _ in $(seq 1 30); do
  if p2 inspect --node "$node_name" --pod hello --json 2>/dev/null | grep -q '"health": "passing"'; then break; fi
  printf '.'; sleep 0.5
done
echo
p2 inspect --node "$node_name"
echo
echo "hello answers at http://127.0.0.1:8080/ : $(curl -fsS http://127.0.0.1:8080/ || echo 'not yet — see p2 inspect')"
echo "p2 is on PATH (/usr/local/bin/p2): try \`p2 inspect\` or \`p2 watch\`"
