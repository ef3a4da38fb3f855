/**
 * `p2-bootstrap` — set this host up from nothing: runit, the embedded store and the preparer, both
 * as pods managed by p2. Running it again changes nothing.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { ExitCode, emit, errorJson, formatError, parseWholeNumber, processIo } from '@p2/cli-kit';
import { describeError, P2Error } from '@p2/errors';
import { type BootstrapOptions, bootstrapHost } from '@p2/host-agent';
import { BootstrapError, BootstrapErrorCode } from './errors.js';

const require = createRequire(import.meta.url);

/** The single-file bundle a pod's artifact is packed from. */
function bundlePath(specifier: string): string {
  try {
    return require.resolve(specifier);
  } catch (error) {
    throw new BootstrapError(
      BootstrapErrorCode.BUNDLE_MISSING,
      `cannot find ${specifier}: ${describeError(error)}`,
      {
        hint: 'build the workspace first (pnpm build), or install @p2/preparer and @p2/kv-server',
      },
    );
  }
}

/** String flags and the option each sets. */
const STRING_FLAGS = {
  'node-name': 'nodeName',
  'pod-root': 'podRoot',
  'service-root': 'serviceRoot',
  'artifact-dir': 'artifactDir',
  store: 'store',
  'token-file': 'tokenFile',
  'kv-data-dir': 'kvDataDir',
  'kv-user': 'kvUser',
  'tls-dir': 'tlsDir',
  'preparer-state-dir': 'preparerStateDir',
  keyring: 'keyring',
  'signing-key': 'signingKey',
  'health-check-host': 'healthCheckHost',
  'hooks-directory': 'hooksDirectory',
  'cgroup-parent': 'cgroupParent',
} as const satisfies Record<string, keyof BootstrapOptions>;

const usage = `Usage: p2-bootstrap [options]

Sets up this host: installs runit if missing, starts the embedded store (p2-kv-server) and the
preparer, both as pods managed by p2, and waits until the preparer reports them. Idempotent.

Options:
  --node-name NAME        this host's node name (default: hostname)
  --pod-root DIR          where pods live (default: /data/pods)
  --service-root DIR      directory runit supervises (default: /etc/service)
  --artifact-dir DIR      where the store and preparer artifacts are written (default: /var/lib/p2/artifacts)
  --store URL             use an existing store instead of the embedded one: only the preparer is installed,
                          configured with URL (consul://host:8500, or an etcd cluster:
                          'etcd+https://h1:2379,h2:2379,h3:2379/p2?ca=CA&cert=CERT&key=KEY')
  --token-file FILE       the store's ACL token, root only (default: /etc/p2/consul.token; created on the
                          first run for the embedded store; with --store, used when it exists)
  --kv-port PORT          port of the embedded store (default: 8500)
  --kv-data-dir DIR       data directory of the embedded store (default: /var/lib/p2/kv)
  --kv-user USER          user the embedded store runs as (default: p2-kv-server)
  --tls-dir DIR           the embedded store's TLS certificate and key (default: /etc/p2/tls; made on the
                          first run; clients pin kv.pem)
  --preparer-state-dir DIR  the preparer's replay-guard state with --keyring (default: /var/lib/p2/preparer)
  --status-port PORT      the preparer's status port (default: 32170)
  --keyring FILE          require manifests signed by a key in this keyring (default: no signatures)
  --signing-key FILE      clear-sign the store's and preparer's manifests with this secret key
  --health-check-host H   host health checks connect to (default: 127.0.0.1)
  --hooks-directory DIR   the preparer's hooks directory (default: /usr/local/p2hooks.d)
  --nested-cgroups        name pod cgroups p2/<node>/<pod>/<launchable> (the preparer's
                          params.nested_cgroups; default: P2's flat <pod>__<launchable>)
  --cgroup-parent PATH    an existing cgroup all pod cgroups go below (the preparer's cgroup_parent)
  --timeout SECONDS       how long to wait for the store and the preparer (default: 60)
  --json                  print the report as JSON
  -h, --help              show this help
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(
        Object.keys(STRING_FLAGS).map((flag) => [flag, { type: 'string' as const }]),
      ),
      'kv-port': { type: 'string' },
      'status-port': { type: 'string' },
      timeout: { type: 'string' },
      'nested-cgroups': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return ExitCode.OK;
  }
  const number = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = parseWholeNumber(text, 1);
    if (n === undefined) {
      process.stderr.write(
        `p2-bootstrap: --${name} expects a positive integer, found ${JSON.stringify(text)}\n`,
      );
      process.exit(ExitCode.USAGE);
    }
    return n;
  };
  const quiet = values.json === true;
  try {
    const options: Partial<BootstrapOptions> = {};
    for (const [flag, key] of Object.entries(STRING_FLAGS)) {
      const value = (values as Record<string, unknown>)[flag];
      if (typeof value === 'string' && value) options[key] = value;
    }
    const kvPort = number('kv-port', values['kv-port']);
    const statusPort = number('status-port', values['status-port']);
    const timeout = number('timeout', values.timeout);
    const report = await bootstrapHost({
      ...options,
      bundles: {
        preparer: bundlePath('@p2/preparer/standalone'),
        kvServer: bundlePath('@p2/kv-server/standalone'),
      },
      ...(kvPort ? { kvPort } : {}),
      ...(statusPort ? { statusPort } : {}),
      ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
      ...(values['nested-cgroups'] ? { nestedCgroups: true } : {}),
      onStep: (step, detail) => {
        if (!quiet) process.stderr.write(`• ${step}${detail ? `: ${detail}` : ''}\n`);
      },
    });
    emit(processIo, { json: quiet }, report, (r) =>
      [
        `host ${r.node} is ready (store ${r.store})`,
        ...r.pods.map((pod) => `  ${pod.pod}: ${pod.action}`),
        ...(r.token ? [`store token: ${r.token.file} (${r.token.action})`] : []),
        `preparer status: ${r.statusUrl}`,
      ].join('\n'),
    );
    return ExitCode.OK;
  } catch (error) {
    if (!(error instanceof P2Error)) {
      process.stderr.write(
        `p2-bootstrap: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      return ExitCode.FAILURE;
    }
    if (values.json) process.stdout.write(errorJson(error));
    process.stderr.write(formatError(error, { label: 'p2-bootstrap' }));
    return ExitCode.FAILURE;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`p2-bootstrap: ${String(error)}\n`);
    process.exitCode = ExitCode.FAILURE;
  },
);
