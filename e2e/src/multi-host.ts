/**
 * Several simulated p2 hosts on one machine for end-to-end scenarios: each host is a network
 * namespace (`ip netns add p2t-…`, loopback up, a veth pair in its own /30 with a default route to
 * the root side) running its own real p2-preparer process (entered with `nsenter --net`, which
 * keeps the host's mounts — `ip netns exec` would remount /sys and hide the cgroup hierarchy) with
 * its own node name, pod root and runit service root. One real p2-kv-server and one artifact
 * server listen on 0.0.0.0 in the root namespace; the hosts reach them at the root side of host 0's
 * veth. Apps bind 127.0.0.1 inside their namespace, so every host can use the same port.
 * `close()` removes everything it made, also after a failure.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, cp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { detectCgroups, openCgroup } from '@p2/cgroups';
import { createStore, type Store } from '@p2/kv';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { RunsvDir } from '@p2/runit';
import { ensureUser, findUser, removeUser } from '@p2/users';
import { afterAll, afterEach } from 'vitest';
import { stringify } from 'yaml';
import { type BuiltArtifact, buildArtifact, helloAppDir, repoRoot, tempDir } from './artifacts.js';
import { type EtcdTestCluster, startEtcdCluster } from './etcd-cluster.js';
import { freePort, type Proc, spawnLogged, waitFor } from './processes.js';

const run = promisify(execFile);

interface SimHost {
  index: number;
  node: string;
  netns: string;
  /** Address of this host inside its namespace. */
  address: string;
  preparer: Proc;
}

export interface Cluster {
  id: string;
  work: string;
  store: Store;
  /** The store's URL in the root namespace (controllers, the `p2` CLI). */
  storeUrl: string;
  /** The p2-kv-server process (`store: 'kv'`). */
  kv: (Proc & { url: string }) | undefined;
  /** The 3-member etcd cluster (`store: 'etcd'`): kill the leader, restart a member. */
  etcd: EtcdTestCluster | undefined;
  hosts: SimHost[];
  /** `http://<root address>:<port>` of the artifact server as the hosts see it. */
  artifactUrl: string;
  /** Every path the artifact server was asked for, in order. */
  artifactRequests: readonly string[];
  /** `consul://<root address>:<port>` (or `etcd://…` on every member) as the hosts see it. */
  storeUrlForHosts: string;
  /** A Hoist artifact of the hello app for `version` (built once). */
  artifact(version: string): Promise<BuiltArtifact>;
  /** Runs a command inside a host's network namespace. */
  inHost(host: SimHost, argv: string[]): Promise<string>;
  /**
   * Creates a pod's Unix user up front and records it so `close()` removes it. The simulated hosts
   * share this machine's /etc/passwd; three preparers creating the same user at once race
   * (`P2_USERS_MISMATCH`: the user ends up with another host's group), which real hosts never do.
   */
  createPodUser(podId: string): Promise<void>;
  /** Starts the p2-kv-server again (same data and port) after a test stopped `kv` (kv store only). */
  restartStore(): Promise<void>;
  close(printLogs?: boolean): Promise<void>;
}

/** Spawns `argv` inside `netns` (network only), output appended to `logFile`. */
function spawnInNetns(netns: string, argv: string[], logFile: string): Proc {
  return spawnLogged('nsenter', [`--net=/var/run/netns/${netns}`, '--', ...argv], logFile);
}

async function serveOnAllAddresses(
  dir: string,
  delayMs: number,
  requests: string[],
): Promise<{ server: Server; port: number }> {
  const server = createServer(async (req, res) => {
    const path = join(dir, normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')));
    requests.push(req.url ?? '/');
    // A slow artifact server (issue 21's pre-staging measurement): every answer waits this long.
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new Error('not a file');
      res.writeHead(200, { 'content-length': info.size });
      createReadStream(path).pipe(res);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * Starts `count` hosts on one store. `preparerConfig(i)` returns keys merged into host `i`'s
 * `preparer:` config (they replace the defaults of the same name, e.g. `auth:`). `store: 'etcd'`
 * puts them on a real 3-member etcd cluster (clients on 0.0.0.0, see ./etcd-cluster.ts) instead of
 * one p2-kv-server.
 */
export async function startCluster(
  count = 3,
  options: {
    preparerConfig?: (hostIndex: number) => Record<string, unknown>;
    /** @default 'kv' */
    store?: 'kv' | 'etcd';
    /** Every artifact server answer waits this long (slow artifacts). @default 0 */
    artifactDelayMs?: number;
  } = {},
): Promise<Cluster> {
  const artifactRequests: string[] = [];
  const id = randomBytes(3).toString('hex');
  const work = await tempDir('e2e-multi');
  await chmod(work, 0o755); // pod users must reach their homes below it
  const logs = join(work, 'logs');
  for (const dir of ['artifacts', 'kv', 'logs']) await mkdir(join(work, dir), { recursive: true });
  // A private 10.a.b.0/24 carved into one /30 per host: .4i+1 root side, .4i+2 namespace side.
  const [a, b] = [...randomBytes(2)];
  const net = `10.${200 + ((a ?? 0) % 50)}.${b ?? 0}`;
  const rootAddress = `${net}.1`;
  const namespaces: string[] = [];
  const veths: string[] = [];
  const pods = new Set<string>();
  const hosts: SimHost[] = [];
  let kv: (Proc & { url: string }) | undefined;
  let etcd: EtcdTestCluster | undefined;
  let storeUrl = '';
  let kvPort = 0;
  let storeUrlForHosts = '';
  let store: Store | undefined;
  let files: Server | undefined;
  let filesPort = 0;

  const close = async (printLogs = false) => {
    if (printLogs)
      for (const h of hosts)
        console.log(`--- preparer log (${h.node}) ---\n${(await h.preparer.log()).slice(-6_000)}`);
    await Promise.all(hosts.map((h) => h.preparer.stop().catch(() => undefined)));
    for (let i = 0; i < count; i++) {
      const runsvdir = new RunsvDir({ root: join(work, `host${i}`, 'service'), slots: 0 });
      await runsvdir.start().catch(() => undefined);
      await runsvdir.stop({ stopServices: true }).catch(() => undefined);
    }
    await store?.close().catch(() => undefined);
    await kv?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    if (printLogs && etcd)
      for (const m of etcd.members)
        console.log(`--- etcd log (${m.name}) ---\n${(await m.proc?.log())?.slice(-3_000)}`);
    if (files) {
      files.closeAllConnections();
      await new Promise((resolve) => files?.close(resolve));
    }
    const hierarchy = await detectCgroups().catch(() => undefined);
    if (hierarchy)
      for (let i = 0; i < count; i++)
        await openCgroup(hierarchy, { name: `p2/p2t-mh-${id}-${i}` })
          .remove({ kill: true })
          .catch(() => undefined);
    for (const user of pods)
      if (await findUser(user))
        await removeUser(user, { removeGroup: true }).catch(() => undefined);
    for (const veth of veths) await run('ip', ['link', 'del', veth]).catch(() => undefined);
    for (const ns of namespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  };

  try {
    if (options.store === 'etcd') {
      etcd = await startEtcdCluster(join(work, 'etcd'), logs);
      const prefix = `p2t-${id}`;
      storeUrl = `etcd://${etcd.endpoints()}/${prefix}`;
      storeUrlForHosts = `etcd://${etcd.endpoints(rootAddress)}/${prefix}`;
    } else {
      kvPort = await freePort();
      kv = await startKvServerProcessOnAll(join(work, 'kv'), kvPort, logs);
      storeUrl = `consul://127.0.0.1:${kvPort}`;
      storeUrlForHosts = `consul://${rootAddress}:${kvPort}`;
    }
    store = createStore(storeUrl);
    const served = await serveOnAllAddresses(
      join(work, 'artifacts'),
      options.artifactDelayMs ?? 0,
      artifactRequests,
    );
    files = served.server;
    filesPort = served.port;
    for (let i = 0; i < count; i++) {
      const ns = `p2t-mh-${id}-${i}`;
      const outer = `p2t${id}h${i}`;
      const inner = `p2t${id}n${i}`;
      await run('ip', ['netns', 'add', ns]);
      namespaces.push(ns);
      await run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
      veths.push(outer);
      await run('ip', ['link', 'set', inner, 'netns', ns]);
      await run('ip', ['addr', 'add', `${net}.${4 * i + 1}/30`, 'dev', outer]);
      await run('ip', ['link', 'set', outer, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${net}.${4 * i + 2}/30`, 'dev', inner]);
      await run('ip', ['-n', ns, 'link', 'set', inner, 'up']);
      await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', `${net}.${4 * i + 1}`]);
      const node = `p2t-mh-${id}-${i}`;
      const root = join(work, `host${i}`);
      for (const dir of ['pods', 'service', 'hooks'])
        await mkdir(join(root, dir), { recursive: true });
      const configPath = join(root, 'preparer.yaml');
      const config: Record<string, unknown> = {
        node_name: node,
        store: storeUrlForHosts,
        pod_root: join(root, 'pods'),
        service_root: join(root, 'service'),
        status_port: 7070,
        auth: { type: 'none' },
        require_preparer_in_intent: false,
        health_check_host: '127.0.0.1',
        health_check_interval: '250ms',
        auto_revert: { state_file: join(root, 'revert', 'reverted.json') },
        hooks_directory: join(root, 'hooks'),
        // One kernel for every host: the same pod on two nodes must not share P2's flat cgroup.
        params: { nested_cgroups: 'true' },
        log_level: 'info',
        ...options.preparerConfig?.(i),
      };
      await writeFile(configPath, stringify({ preparer: config }));
      const preparer = spawnInNetns(
        ns,
        [process.execPath, join(repoRoot, 'apps/preparer/dist/cli.js'), '--config', configPath],
        join(logs, `preparer-${i}.log`),
      );
      hosts.push({ index: i, node, netns: ns, address: `${net}.${4 * i + 2}`, preparer });
    }
  } catch (error) {
    await close(true);
    throw error;
  }

  const built = new Map<string, BuiltArtifact>();
  const cluster: Cluster = {
    id,
    work,
    store,
    storeUrl,
    kv,
    etcd,
    hosts,
    artifactUrl: `http://${rootAddress}:${filesPort}`,
    artifactRequests,
    storeUrlForHosts,
    async artifact(version) {
      const existing = built.get(version);
      if (existing) return existing;
      const src = join(work, `src-${version}`);
      await cp(helloAppDir, src, { recursive: true });
      await writeFile(join(src, 'VERSION'), version);
      const artifact = await buildArtifact(
        src,
        join(work, 'artifacts'),
        'hello',
        `${version}-${id}`,
      );
      built.set(version, artifact);
      return artifact;
    },
    async inHost(host, argv) {
      const { stdout } = await run('nsenter', [
        `--net=/var/run/netns/${host.netns}`,
        '--',
        ...argv,
      ]);
      return stdout;
    },
    async createPodUser(podId) {
      pods.add(podId);
      await ensureUser({
        name: podId,
        home: join(work, 'host0', 'pods', podId),
        createHome: false,
      });
    },
    async restartStore() {
      cluster.kv = await startKvServerProcessOnAll(join(work, 'kv'), kvPort, logs);
      kv = cluster.kv;
    },
    close,
  };
  return cluster;
}

/** p2-kv-server listening on every address (the namespaces reach it through their veths). */
async function startKvServerProcessOnAll(
  dataDir: string,
  port: number,
  logDir: string,
): Promise<Proc & { url: string }> {
  const logFile = join(logDir, 'kv-server.log');
  const proc = spawnLogged(
    process.execPath,
    [
      join(repoRoot, 'packages/kv-server/dist/cli.js'),
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--host',
      '0.0.0.0',
      '--session-ttl-min',
      '1s',
    ],
    logFile,
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await fetch(`${url}/v1/kv/?keys`).catch(() => undefined))?.status !== undefined)
      return { ...proc, url };
    await sleep(100);
  }
  await proc.stop();
  throw new Error(`p2-kv-server did not answer on ${url} within 20 s; log: ${logFile}`);
}

export interface Sample {
  host: number;
  t: number;
  /** The greeting served on `/`, undefined when `/_status` did not answer 200. */
  greeting: string | undefined;
}

/** Polls `127.0.0.1:<port>` inside every host's namespace every `everyMs` (one node process per host). */
export function pollApps(cluster: Cluster, port: number, everyMs = 50) {
  const samples: Sample[] = [];
  const script = `
const get = (p) => fetch('http://127.0.0.1:${port}' + p, { signal: AbortSignal.timeout(1000) });
const tick = async () => {
  let greeting = null;
  try {
    const s = await get('/_status');
    if (s.status === 200) { await s.text(); greeting = (await (await get('/')).text()).trim(); }
  } catch {}
  process.stdout.write(JSON.stringify({ t: Date.now(), greeting }) + '\\n');
  setTimeout(tick, ${everyMs});
};
tick();
process.on('SIGTERM', () => process.exit(0));`;
  const children = cluster.hosts.map((h) => {
    const child = spawn(
      'nsenter',
      [`--net=/var/run/netns/${h.netns}`, '--', process.execPath, '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const s = JSON.parse(line) as { t: number; greeting: string | null };
        samples.push({ host: h.index, t: s.t, greeting: s.greeting ?? undefined });
      } catch {}
    });
    return child;
  });
  return {
    samples,
    /** The latest sample of each host. */
    latest(): Array<Sample | undefined> {
      return cluster.hosts.map((h) => samples.findLast((s) => s.host === h.index));
    },
    async stop() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/**
 * The fewest hosts serving at once between `from` and `to`: every sample moves its host's state,
 * and the count is taken after each one (samples are merged in time order).
 */
export function minServing(
  samples: Sample[],
  hostCount: number,
  from: number,
  to: number,
  serving: (greeting: string | undefined) => boolean = (g) => g !== undefined,
) {
  const state = new Array<boolean>(hostCount).fill(false);
  let min = Number.POSITIVE_INFINITY;
  const sorted = [...samples].sort((x, y) => x.t - y.t);
  for (const s of sorted) {
    state[s.host] = serving(s.greeting);
    if (s.t >= from && s.t <= to) min = Math.min(min, state.filter(Boolean).length);
  }
  return min;
}

/** Waits until every host's preparer answers on its status port inside its namespace. */
export async function waitForPreparers(cluster: Cluster): Promise<void> {
  for (const h of cluster.hosts)
    await waitFor(
      `the preparer of ${h.node}`,
      async () =>
        (
          await cluster.inHost(h, [
            process.execPath,
            '-e',
            "fetch('http://127.0.0.1:7070/_status').then(r=>r.text()).then(t=>process.stdout.write(t),()=>{})",
          ])
        ).includes('OK'),
      30_000,
      300,
    );
}

/**
 * `p2-controllers` flags for the scenarios: resync every 2 s, roll polls every 1 s, a 10 s session
 * and 1 s lock delay (the defaults are minutes, for real clusters).
 */
export const QUICK_CONTROLLER_ARGS = [
  '--resync-ms',
  '2000',
  '--roll-poll-ms',
  '1000',
  '--session-ttl-ms',
  '10000',
  '--lock-delay-ms',
  '1000',
];

/**
 * The hello app's manifest for the cluster: `artifact` served by the cluster, answering `greeting`
 * on `port`, its HTTP status check on `statusPort`, with `extraConfig` (e.g. `error_ratio`).
 */
export function helloManifest(
  cluster: Cluster,
  pod: string,
  artifact: BuiltArtifact,
  port: number,
  greeting: string,
  statusPort = port,
  extraConfig: Record<string, unknown> = {},
): Manifest {
  return new ManifestBuilder()
    .setId(pod)
    .setLaunchable('app', {
      launchableType: 'hoist',
      location: `${cluster.artifactUrl}/${artifact.fileName}`,
      restartTimeout: '5s',
    })
    .setConfig({ port, greeting, ...extraConfig })
    .setStatusPort(statusPort)
    .setStatusHttp(true)
    .build();
}

/** What each host serves on `/` at `port`, from inside its namespace ('' when nothing answers). */
export async function greetings(cluster: Cluster, port: number): Promise<string[]> {
  return Promise.all(
    cluster.hosts.map((h) =>
      cluster
        .inHost(h, [
          process.execPath,
          '-e',
          `fetch('http://127.0.0.1:${port}/').then(r=>r.text()).then(t=>process.stdout.write(t.trim()),()=>{})`,
        ])
        .catch(() => ''),
    ),
  );
}

/**
 * Writes {@link helloManifest} of `pod` at `version` (the cluster's artifact of that version) to
 * `<work>/<pod>-<version>.yaml`, for `p2 … -m FILE`; returns its path and the manifest.
 */
export async function manifestFile(
  cluster: Cluster,
  pod: string,
  version: string,
  port: number,
  greeting: string,
): Promise<{ path: string; manifest: Manifest }> {
  const manifest = helloManifest(cluster, pod, await cluster.artifact(version), port, greeting);
  const path = join(cluster.work, `${pod}-${version}.yaml`);
  await writeFile(path, manifest.text());
  return { path, manifest };
}

/** What a multi-host test file started, read when it is torn down. */
export interface ClusterRun {
  cluster?: Cluster;
  controllers?: Proc;
  poller?: { stop(): Promise<void> };
}

/**
 * Registers a multi-host test file's teardown: a failed test is remembered, and after all tests
 * `also.killAll` (its `p2` processes) runs, the app poller and the controllers stop (their log printed
 * after a failure), the cluster closes (its hosts' logs printed after a failure), then `also.more`.
 * Runs whatever failed before it.
 */
export function tearDownClusterAfterAll(
  run: () => ClusterRun,
  also: { killAll?: () => void; more?: () => Promise<void> } = {},
): void {
  let failed = false;
  afterEach((context) => {
    if (context.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    const { cluster, controllers, poller } = run();
    also.killAll?.();
    await poller?.stop();
    await controllers?.stop();
    if (failed && controllers)
      console.log(`--- controllers log ---\n${(await controllers.log()).slice(-8_000)}`);
    await cluster?.close(failed);
    await also.more?.();
  });
}

/** Starts the built `p2-controllers` binary in the root namespace. */
export function startControllersProcess(
  storeUrl: string,
  logDir: string,
  args: string[] = [],
): Proc {
  return spawnLogged(
    process.execPath,
    [join(repoRoot, 'apps/controllers/dist/cli.js'), '--store', storeUrl, ...args],
    join(logDir, 'controllers.log'),
  );
}

/** The nodes whose intent holds `pod`, sorted. */
export async function intentNodes(cluster: Cluster, pod: string): Promise<string[]> {
  return (await cluster.store.keys('intent/')).value
    .map((k) => k.split('/'))
    .filter((p) => p.length === 3 && p[2] === pod)
    .map((p) => p[1] ?? '')
    .sort();
}

/** Each host's changes of state (`+ms host greeting`), for failure messages. */
export function transitions(samples: Sample[], since = 0): string {
  const last = new Map<number, string | undefined>();
  const lines: string[] = [];
  for (const s of [...samples].sort((x, y) => x.t - y.t)) {
    if (last.has(s.host) && last.get(s.host) === s.greeting) continue;
    last.set(s.host, s.greeting);
    lines.push(`${s.t - since} ms  host${s.host}  ${s.greeting ?? '(not serving)'}`);
  }
  return lines.join('\n');
}
