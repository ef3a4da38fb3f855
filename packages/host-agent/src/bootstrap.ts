/**
 * Sets up a host from nothing, as P2's p2-bootstrap did (spec 02 §9.1), with p2's embedded store:
 *
 * 1. create the store's ACL token once, in a root-only file (`/etc/p2/consul.token`), or reuse it;
 * 2. make sure runit is there and a runsvdir supervises the service root;
 * 3. pack the store (`p2-kv-server`) and the preparer into Hoist artifacts;
 * 4. install and launch the store as pod `p2-kv-server` (or use an existing store by URL); its
 *    manifest carries only the token's SHA-256, so the store denies everyone without the token;
 * 5. write the store's manifest to intent and reality, the preparer's to intent (with
 *    `consul_token_path`);
 * 6. install and launch the preparer as pod `p2-preparer`, and wait until it reports both pods in
 *    reality — from then on upgrading either is an ordinary deploy.
 *
 * Idempotent: a pod whose running manifest already matches is left alone, and intent is only
 * written when it differs. A store that changed is replaced by bootstrap itself, and then the
 * preparer too: a store that changes how it is reached (getting its token, HTTPS) would cut off a
 * preparer still configured the old way. Both deploys bootstrap does itself go through
 * {@link deployPod}, without authorization against a store, hooks or reality (none exist yet).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { loadSecretKeyFile, signManifest } from '@p2/auth';
import { detectCgroups } from '@p2/cgroups';
import { describeError, redactCredentials } from '@p2/errors';
import { DEFAULT_LOCAL_ARTIFACT_DIR } from '@p2/hoist';
import { intentKey, nodePodsPrefix, realityKey } from '@p2/keyspace';
import {
  createStore,
  DEFAULT_TOKEN_FILE,
  ensureTokenFile,
  readTokenFile,
  type Store,
  tokenSha256,
} from '@p2/kv';
import { DEFAULT_TLS_DIR, ensureStoreCertificate } from '@p2/kv-server';
import { type Manifest, ManifestBuilder, parseManifest } from '@p2/manifest';
import { PodHost } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import { lookupUser } from '@p2/users';
import { deployPod, type LifecycleHooks } from './deploy.js';
import { HostAgentError, HostAgentErrorCode } from './errors.js';
import { checkedNaming } from './launch.js';
import { packBundle } from './pack.js';

const run = promisify(execFile);

/** What {@link bootstrapHost} sets up, and where. */
export interface BootstrapOptions {
  /**
   * The single-file Node bundles packed into the pods' artifacts: `@p2/preparer/standalone` and
   * `@p2/kv-server/standalone`, resolved by the caller (p2-bootstrap).
   */
  bundles: { preparer: string; kvServer: string };
  /** @default os.hostname() */
  nodeName?: string;
  /** @default '/data/pods' */
  podRoot?: string;
  /** Directory runit supervises (Debian's runit watches /etc/service). @default '/etc/service' */
  serviceRoot?: string;
  /** Where the store's and preparer's artifacts are written. @default '/var/lib/p2/artifacts' */
  artifactDir?: string;
  /** Use this store instead of starting the embedded one (`consul://…`, `etcd://…`). */
  store?: string;
  /**
   * The store's ACL token file (root only, mode 0600). With the embedded store it is created on
   * the first run and reused after; with `store`, it is used when it exists (or when given).
   * @default '/etc/p2/consul.token'
   */
  tokenFile?: string;
  /** Port of the embedded store. @default 8500 */
  kvPort?: number;
  /** Data directory of the embedded store. @default '/var/lib/p2/kv' */
  kvDataDir?: string;
  /** User the embedded store runs as. @default 'p2-kv-server' */
  kvUser?: string;
  /**
   * Where the embedded store's TLS certificate (`kv.pem`) and key (`kv.key`, the store's user only)
   * live. The store serves HTTPS and every client pins this certificate, so a process that takes
   * the store's port while it restarts never receives the token. @default '/etc/p2/tls'
   */
  tlsDir?: string;
  /**
   * The preparer's own state (the replay guard's `replay-state.json` when manifests are signed).
   * @default '/var/lib/p2/preparer'
   */
  preparerStateDir?: string;
  /** Port of the preparer's status server. @default 32170 (as P2's integration setup) */
  statusPort?: number;
  /** Deployer keyring for the preparer (`auth: keyring`); without it, `auth: none`. */
  keyring?: string;
  /**
   * Secret key file (armored or binary, unprotected) to clear-sign the store's and the preparer's
   * manifests with — needed with `keyring`, since the preparer then refuses unsigned manifests,
   * its own included.
   */
  signingKey?: string;
  /** The preparer's hooks directory. @default P2's '/usr/local/p2hooks.d' */
  hooksDirectory?: string;
  /** Host name health checks connect to. @default '127.0.0.1' */
  healthCheckHost?: string;
  /**
   * Name pod cgroups `p2/<node>/<pod>/<launchable>` (the preparer's `params.nested_cgroups`)
   * instead of P2's flat `<pod>__<launchable>`; the store and the preparer are launched so too.
   * @default false
   */
  nestedCgroups?: boolean;
  /** An existing cgroup every pod cgroup goes below (the preparer's `cgroup_parent`). @default '' */
  cgroupParent?: string;
  /** How long to wait for the store and the preparer. @default 60000 */
  timeoutMs?: number;
  /** Install runit with apt-get when missing. @default true */
  installRunit?: boolean;
  onStep?: (step: string, detail?: string) => void;
}

/** What {@link bootstrapHost} did. */
export interface BootstrapReport {
  node: string;
  /** The store's URL, credentials (`user:password@`, `?token=`, `?key=`) shown as `***`. */
  store: string;
  /** `installed`: started here; `updated`: a new version handed to the running preparer; `unchanged`. */
  pods: Array<{ pod: string; action: 'installed' | 'updated' | 'unchanged' | 'external' }>;
  statusUrl: string;
  /** The store's ACL token file and whether this run made it; absent when no token is used. */
  token?: { file: string; action: 'created' | 'reused' };
}

async function ensureRunit(install: boolean, step: (s: string, d?: string) => void): Promise<void> {
  const found = await run('sh', [
    '-c',
    'command -v runsvdir && command -v runsv && command -v chpst',
  ]).then(
    () => true,
    () => false,
  );
  if (found) return;
  if (!install || !existsSync('/usr/bin/apt-get')) {
    throw new HostAgentError(
      HostAgentErrorCode.BOOTSTRAP_RUNIT_MISSING,
      'runit (runsvdir, runsv, chpst) is not installed',
      {
        hint: 'install it: apt-get install runit',
      },
    );
  }
  step('installing runit', 'apt-get install runit');
  await run('apt-get', ['install', '-y', '-qq', 'runit'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

async function waitFor<T>(
  what: string,
  code: HostAgentErrorCode,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new HostAgentError(
    code,
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${describeError(last)}` : ''}`,
  );
}

/** What runs of a pod now: nothing, this exact manifest, or another version. */
async function runningState(host: PodHost, manifest: Manifest): Promise<'none' | 'same' | 'other'> {
  const running = await host.runningManifest({ podId: manifest.id, requireServices: true });
  if (!running) return 'none';
  return running.sha() === manifest.sha() ? 'same' : 'other';
}

/**
 * A deploy done by bootstrap itself: no store to authorize against or record reality in yet, no
 * hooks but `afterInstall` (once the pod's user exists), and always a deploy (bootstrap decided).
 */
async function replacePod(
  host: PodHost,
  manifest: Manifest,
  afterInstall?: () => Promise<void>,
): Promise<void> {
  const hooks: LifecycleHooks | undefined = afterInstall && {
    run: async (event) => {
      if (event === 'after_install') await afterInstall();
    },
  };
  const result = await deployPod({ host, ...(hooks ? { hooks } : {}) }, manifest, {
    whenRunning: 'redeploy',
  });
  if (result.outcome === 'unauthorized') throw result.error;
}

/**
 * The store's data directory: its own user's, 0700, below directories that user can enter (made
 * 0755 when missing; an existing one without o+x is refused with the fix).
 */
async function ensureDataDir(dir: string, user: { uid: number; gid: number }): Promise<void> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    const info = await stat(parent);
    if ((info.mode & 0o001) === 0)
      throw new HostAgentError(
        HostAgentErrorCode.BOOTSTRAP_BAD_OPTIONS,
        `the store's data directory ${dir} is below ${parent} (mode ${(info.mode & 0o777).toString(8)}), which the store's user cannot enter`,
        { hint: `chmod o+x ${parent}, or pass --kv-data-dir elsewhere` },
      );
    if (dirname(parent) === parent) break;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chown(dir, user.uid, user.gid);
}

async function putIfChanged(store: Store, key: string, value: Uint8Array): Promise<void> {
  const { value: existing } = await store.get(key);
  if (existing && Buffer.compare(Buffer.from(existing.value), Buffer.from(value)) === 0) return;
  await store.put(key, value);
}

/** Clear-signs a built manifest when a signing key is given (the signed text is what is stored). */
async function signed(manifest: Manifest, keyFile: string | undefined): Promise<Manifest> {
  if (!keyFile) return manifest;
  const [key] = await loadSecretKeyFile(keyFile);
  if (!key)
    throw new HostAgentError(
      HostAgentErrorCode.BOOTSTRAP_BAD_OPTIONS,
      `no secret key in ${keyFile}`,
    );
  return parseManifest(await signManifest(new TextDecoder().decode(manifest.raw), key), {
    source: manifest.id,
  });
}

/** The run_as exception bootstrap grants: the preparer itself runs as root. */
const PREPARER_RUN_AS_ALLOW = { 'p2-preparer': ['root'] };

/**
 * Node flags of the preparer's `bin/launch`: a host agent that idles between deploys should hold
 * little memory. Young-generation semi-spaces of 2 MiB instead of up to 16 MiB (a burst of deploys
 * grew them and they stayed): ≈ 125 → 90 MiB RSS with 100 pods, for ≈ 8 % more CPU per deploy
 * (docs/scaling.md). `--optimize-for-size` took a few MiB more but cost ≈ 30 % more CPU per deploy,
 * which a burst of deploys on a busy host waits for. `--expose-gc` lets the preparer run one full
 * collection once a burst is over (`IdleGc`): 117 → 93 MiB with 100 pods.
 */
export const PREPARER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--expose-gc'];

/**
 * Environment of the preparer's `bin/launch`: two malloc arenas, not one per thread that touched
 * the heap (libuv's file-system threads each kept one after a burst of installs).
 */
export const PREPARER_NODE_ENV: readonly string[] = ['MALLOC_ARENA_MAX=2'];

/**
 * Sets this host up from nothing (see the file's header); running it again changes nothing.
 *
 * @throws HostAgentError `P2_BOOTSTRAP_NOT_ROOT`, `P2_BOOTSTRAP_RUNIT_MISSING`,
 *   `P2_BOOTSTRAP_STORE_TIMEOUT`, `P2_BOOTSTRAP_PREPARER_TIMEOUT`, `P2_BOOTSTRAP_BAD_OPTIONS`
 * @example
 * ```ts
 * const report = await bootstrapHost({ bundles: { preparer, kvServer }, nodeName: 'h1' });
 * report.pods; // [{ pod: 'p2-kv-server', action: 'installed' }, { pod: 'p2-preparer', … }]
 * ```
 */
export async function bootstrapHost(options: BootstrapOptions): Promise<BootstrapReport> {
  const step = options.onStep ?? (() => undefined);
  if (process.getuid?.() !== 0) {
    throw new HostAgentError(
      HostAgentErrorCode.BOOTSTRAP_NOT_ROOT,
      'p2-bootstrap must run as root (it creates users, cgroups and runit services)',
      {
        hint: 'run it with sudo',
      },
    );
  }
  const node = options.nodeName ?? hostname();
  const podRoot = options.podRoot ?? '/data/pods';
  const serviceRoot = options.serviceRoot ?? '/etc/service';
  const artifactDir = options.artifactDir ?? DEFAULT_LOCAL_ARTIFACT_DIR;
  const kvPort = options.kvPort ?? 8500;
  const kvDataDir = options.kvDataDir ?? '/var/lib/p2/kv';
  const tlsDir = options.tlsDir ?? DEFAULT_TLS_DIR;
  const preparerStateDir = options.preparerStateDir ?? '/var/lib/p2/preparer';
  const statusPort = options.statusPort ?? 32170;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const report: BootstrapReport = {
    node,
    store: '',
    pods: [],
    statusUrl: `http://127.0.0.1:${statusPort}/_status`,
  };

  // The token first: an unsafe token file stops everything before anything is set up.
  const tokenFile = options.tokenFile ?? DEFAULT_TOKEN_FILE;
  let token: string | undefined;
  if (!options.store) {
    const ensured = await ensureTokenFile(tokenFile);
    token = ensured.token;
    report.token = { file: tokenFile, action: ensured.created ? 'created' : 'reused' };
  } else if (options.tokenFile || existsSync(tokenFile)) {
    token = await readTokenFile(tokenFile, { rootOwned: true, private: true });
    report.token = { file: tokenFile, action: 'reused' };
  }
  if (report.token) step('token', `${report.token.action} ${tokenFile} (root only)`);

  await ensureRunit(options.installRunit ?? true, step);
  step('supervision', `runsvdir on ${serviceRoot}`);
  const runsvdir = new RunsvDir({ root: serviceRoot });
  await runsvdir.start();
  const cgroups = await detectCgroups().catch(() => false as const);
  // The store and the preparer get their cgroups as the preparer will name every pod's.
  const cgroupNaming = checkedNaming({
    nested: options.nestedCgroups === true,
    parent: options.cgroupParent ?? '',
  });
  const host = new PodHost({
    podRoot,
    nodeName: node,
    runsvdir,
    cgroups,
    cgroupNaming,
    readOnlyDefault: () => false,
    fetch: { localRoots: [artifactDir] },
    runAs: { allow: PREPARER_RUN_AS_ALLOW },
  });
  await mkdir(podRoot, { recursive: true, mode: 0o755 });

  step('artifacts', artifactDir);
  // Root-owned and not group/other-writable, or hoist refuses to read artifacts from it as root.
  await mkdir(artifactDir, { recursive: true, mode: 0o755 }).then(() => chmod(artifactDir, 0o755));
  const preparerArtifact = await packBundle({
    name: 'p2-preparer',
    bundle: options.bundles.preparer,
    launch: `#!/bin/sh\n# p2-preparer: reads its configuration from CONFIG_PATH (this pod's config).\n${PREPARER_NODE_ENV.map((v) => `export ${v}\n`).join('')}exec node ${PREPARER_NODE_FLAGS.join(' ')} "$(dirname "$0")/../lib/p2-preparer.mjs"\n`,
    outDir: artifactDir,
  });

  let storeUrl = options.store;
  let kvManifest: Manifest | undefined;
  if (!storeUrl) {
    const kvArtifact = await packBundle({
      name: 'p2-kv-server',
      bundle: options.bundles.kvServer,
      launch:
        '#!/bin/sh\n# p2-kv-server: the embedded store, configured by this launchable\'s env (P2_KV_TLS_* too).\nexec node "$(dirname "$0")/../lib/p2-kv-server.mjs" --data-dir "$P2_KV_DATA_DIR" --port "$P2_KV_PORT" --host 127.0.0.1\n',
      outDir: artifactDir,
    });
    kvManifest = await signed(
      new ManifestBuilder()
        .setId('p2-kv-server')
        .setRunAs(options.kvUser ?? 'p2-kv-server')
        .setLaunchable('kv-server', {
          launchableType: 'hoist',
          location: kvArtifact.location,
          restartTimeout: '10s',
          env: {
            P2_KV_DATA_DIR: kvDataDir,
            P2_KV_PORT: String(kvPort),
            // Only the digest: the store checks tokens without holding one, and the manifest (in
            // intent, reality and this pod's env dir) never carries the secret.
            ...(token ? { P2_KV_ACL_TOKEN_SHA256: tokenSha256(token) } : {}),
            P2_KV_TLS_CERT: join(tlsDir, 'kv.pem'),
            P2_KV_TLS_KEY: join(tlsDir, 'kv.key'),
          },
        })
        .setConfig({ port: kvPort, data_dir: kvDataDir })
        .build(),
      options.signingKey,
    );
    storeUrl = `consul+https://127.0.0.1:${kvPort}?ca=${join(tlsDir, 'kv.pem')}`;
    let kvState = await runningState(host, kvManifest);
    const kvUser = kvManifest.runAs;
    const certificate = async () => {
      const user = await lookupUser(kvUser);
      const made = await ensureStoreCertificate({ dir: tlsDir, owner: user });
      if (made.created)
        step('store', `TLS certificate ${made.certPath} (key readable by ${user.name} only)`);
      return made;
    };
    // A store running already keeps its certificate; a new one (deleted, or unsafe) needs a restart.
    if (kvState !== 'none' && (await certificate()).created) kvState = 'other';
    if (kvState === 'same') {
      report.pods.push({ pod: kvManifest.id, action: 'unchanged' });
    } else {
      // Installed, or replaced, by bootstrap itself — not handed to the preparer: a store that
      // changes how it is reached (an open store getting its token, plain HTTP becoming HTTPS)
      // would cut off a preparer still configured for the old way.
      step(
        'store',
        `${kvState === 'none' ? 'installing' : 'replacing'} pod p2-kv-server on port ${kvPort}`,
      );
      const installing = kvState === 'none';
      await replacePod(host, kvManifest, async () => {
        await ensureDataDir(kvDataDir, await lookupUser(kvUser));
        if (installing) await certificate();
      });
      report.pods.push({
        pod: kvManifest.id,
        action: kvState === 'none' ? 'installed' : 'updated',
      });
    }
  } else {
    report.pods.push({ pod: 'store', action: 'external' });
  }
  // An etcd URL may carry `user:password@`: the report, the steps and errors show it without.
  const shownUrl = redactCredentials(storeUrl);
  report.store = shownUrl;
  const store = createStore(storeUrl, token ? { token } : {});
  try {
    step('store', `waiting for ${shownUrl}`);
    await waitFor(
      `the store at ${shownUrl}`,
      HostAgentErrorCode.BOOTSTRAP_STORE_TIMEOUT,
      timeoutMs,
      async () => {
        await store.get('p2/bootstrap-ping');
        return true;
      },
    );

    const preparerManifest = await signed(
      new ManifestBuilder()
        .setId('p2-preparer')
        .setRunAs('root')
        .setReadonly(true)
        .setLaunchable('preparer', {
          launchableType: 'hoist',
          location: preparerArtifact.location,
          restartTimeout: '0s',
        })
        .setConfig({
          preparer: {
            node_name: node,
            store: storeUrl,
            ...(token ? { consul_token_path: tokenFile } : {}),
            pod_root: podRoot,
            service_root: serviceRoot,
            ...(artifactDir === DEFAULT_LOCAL_ARTIFACT_DIR
              ? {}
              : { local_artifact_dirs: [artifactDir] }),
            status_port: statusPort,
            // The preparer is the one pod that runs as root; every other pod is refused root.
            run_as_allow: PREPARER_RUN_AS_ALLOW,
            health_check_host: options.healthCheckHost ?? '127.0.0.1',
            ...(options.hooksDirectory ? { hooks_directory: options.hooksDirectory } : {}),
            ...(cgroupNaming.nested ? { params: { nested_cgroups: 'true' } } : {}),
            ...(cgroupNaming.parent ? { cgroup_parent: cgroupNaming.parent } : {}),
            auth: options.keyring
              ? { type: 'keyring', keyring: options.keyring }
              : { type: 'none' },
            ...(options.keyring
              ? { replay_guard: { state_file: join(preparerStateDir, 'replay-state.json') } }
              : {}),
          },
        })
        .build(),
      options.signingKey,
    );

    step('intent', nodePodsPrefix('intent', node));
    const kvChanged = kvManifest !== undefined && report.pods[0]?.action !== 'unchanged';
    if (kvManifest) {
      await putIfChanged(store, intentKey(node, kvManifest.id), kvManifest.raw);
      if (kvChanged) await putIfChanged(store, realityKey(node, kvManifest.id), kvManifest.raw);
    }
    await putIfChanged(store, intentKey(node, preparerManifest.id), preparerManifest.raw);

    const preparerState = await runningState(host, preparerManifest);
    if (preparerState === 'other' && kvChanged) {
      // The running preparer may not reach the store as it is now (see above): replace it here.
      step('preparer', 'replacing pod p2-preparer');
      await replacePod(host, preparerManifest);
      report.pods.push({ pod: preparerManifest.id, action: 'updated' });
    } else if (preparerState !== 'none') {
      // A running preparer deploys its own new version from intent (self-hosting).
      report.pods.push({
        pod: preparerManifest.id,
        action: preparerState === 'same' ? 'unchanged' : 'updated',
      });
    } else {
      step('preparer', 'installing pod p2-preparer');
      await replacePod(host, preparerManifest);
      report.pods.push({ pod: preparerManifest.id, action: 'installed' });
    }
    step('preparer', 'waiting for it to report reality');
    const inReality = (manifest: Manifest) =>
      waitFor(
        `${realityKey(node, manifest.id)} to show the new version`,
        HostAgentErrorCode.BOOTSTRAP_PREPARER_TIMEOUT,
        timeoutMs,
        async () => {
          const { value } = await store.get(realityKey(node, manifest.id));
          return value && Buffer.compare(Buffer.from(value.value), Buffer.from(manifest.raw)) === 0
            ? true
            : undefined;
        },
      );
    await inReality(preparerManifest);
    if (kvManifest) await inReality(kvManifest);
  } finally {
    await store.close();
  }
  return report;
}
