/**
 * One simulated p2 host for end-to-end scenarios: a real p2-kv-server process, a real artifact
 * server with two versions of the hello app, and a real p2-preparer process with its own pod root
 * and runit service root. `close()` removes everything it made (processes, services, cgroups,
 * p2t- users, files), also after a failure.
 */
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectCgroups, openCgroup, removePodCgroups } from '@p2/cgroups';
import { preparerStatusKey } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  type BuiltArtifact,
  buildArtifact,
  type FileServer,
  helloAppDir,
  serveDirectory,
  tempDir,
} from './artifacts.js';
import { p2Runner } from './cli.js';
import {
  freePort,
  type Proc,
  startKvServerProcess,
  startPreparerProcess,
  waitFor,
} from './processes.js';

export interface TestHostOptions {
  /** YAML lines of the `auth:` section, indented by 2 (default `  auth: {type: none}`). */
  auth?: string[];
  /** Extra `preparer:` config lines, indented by 2. */
  extraConfig?: string[];
  /** The pod root (e.g. a small tmpfs the test mounted and unmounts); default `<work>/pods`. */
  podRoot?: string;
}

export interface TestHost {
  id: string;
  node: string;
  work: string;
  store: Store;
  kv: Proc & { url: string };
  kvPort: number;
  preparer: Proc;
  statusPort: number;
  configPath: string;
  artifacts: FileServer;
  v1: BuiltArtifact;
  v2: BuiltArtifact;
  /** A pod id unique to this host (`p2t-<letter>-<id>`); removed as a user on close. */
  podId(letter: string): string;
  manifest(pod: string, artifact: BuiltArtifact | string, port: number, greeting: string): Manifest;
  answer(port: number, path?: string): Promise<string | undefined>;
  podState(
    pod: string,
  ): Promise<{ state: string; error?: string; code?: string; sha?: string } | undefined>;
  /** Starts the preparer (again), with extra environment (e.g. libfaketime's). */
  startPreparer(name?: string, env?: NodeJS.ProcessEnv): Promise<Proc>;
  restartKvServer(): Promise<void>;
  close(printLogs?: boolean): Promise<void>;
}

export async function startTestHost(options: TestHostOptions = {}): Promise<TestHost> {
  const id = randomBytes(3).toString('hex');
  const node = `p2t-e2e-${id}`;
  const pods = new Set<string>();
  const work = await tempDir('e2e-host');
  await chmod(work, 0o755); // pod users must reach their homes below it
  for (const dir of ['artifacts', 'pods', 'service', 'kv', 'logs', 'src2', 'hooks']) {
    await mkdir(join(work, dir), { recursive: true });
  }
  const v1 = await buildArtifact(helloAppDir, join(work, 'artifacts'), 'hello', `v1-${id}`);
  await cp(helloAppDir, join(work, 'src2'), { recursive: true });
  await writeFile(join(work, 'src2', 'VERSION'), '2');
  const v2 = await buildArtifact(join(work, 'src2'), join(work, 'artifacts'), 'hello', `v2-${id}`);
  const artifacts = await serveDirectory(join(work, 'artifacts'));
  const kvPort = await freePort();
  const statusPort = await freePort();
  const configPath = join(work, 'preparer.yaml');
  await writeFile(
    configPath,
    [
      'preparer:',
      `  node_name: ${node}`,
      `  store: consul://127.0.0.1:${kvPort}`,
      `  pod_root: ${options.podRoot ?? join(work, 'pods')}`,
      `  service_root: ${join(work, 'service')}`,
      `  status_port: ${statusPort}`,
      ...(options.auth ?? ['  auth: {type: none}']),
      // Signed hosts get the replay guard by default; keep its state with this host, not in /var/lib/p2.
      ...(options.auth
        ? [`  replay_guard: {state_file: ${join(work, 'replay', 'state.json')}}`]
        : []),
      '  require_preparer_in_intent: false',
      '  health_check_host: 127.0.0.1',
      // Keep the auto-revert state with this host (a test's own `auto_revert:` replaces it).
      ...(options.extraConfig?.some((l) => l.trim().startsWith('auto_revert:'))
        ? []
        : [`  auto_revert: {state_file: ${join(work, 'revert', 'reverted.json')}}`]),
      `  hooks_directory: ${join(work, 'hooks')}`,
      '  log_level: debug',
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  const answer = async (port: number, path = '/') => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
    return res ? await res.text() : undefined;
  };

  const host: TestHost = {
    id,
    node,
    work,
    kvPort,
    statusPort,
    configPath,
    artifacts,
    v1,
    v2,
    kv: await startKvServerProcess(join(work, 'kv'), kvPort, join(work, 'logs')),
    store: createStore(`consul://127.0.0.1:${kvPort}`),
    preparer: undefined as unknown as Proc,
    podId(letter) {
      const pod = `p2t-${letter}-${id}`;
      pods.add(pod);
      return pod;
    },
    manifest(pod, artifact, port, greeting) {
      const location =
        typeof artifact === 'string' ? artifact : `${artifacts.url}/${artifact.fileName}`;
      return new ManifestBuilder()
        .setId(pod)
        .setLaunchable('app', { launchableType: 'hoist', location, restartTimeout: '5s' })
        .setConfig({ port, greeting })
        .setStatusPort(port)
        .setStatusHttp(true)
        .build();
    },
    answer,
    async podState(pod) {
      const { value } = await host.store.get(preparerStatusKey(node, pod));
      return value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
    },
    async startPreparer(name = 'preparer', env = {}) {
      host.preparer = startPreparerProcess(configPath, join(work, 'logs'), name, env);
      await waitFor(
        'the preparer status server',
        async () => (await answer(statusPort, '/_status')) === 'p2-preparer OK',
        30_000,
      );
      return host.preparer;
    },
    async restartKvServer() {
      host.kv = await startKvServerProcess(join(work, 'kv'), kvPort, join(work, 'logs'));
    },
    async close(printLogs = false) {
      if (printLogs)
        console.log(
          `--- preparer log (${node}) ---\n${(await host.preparer?.log())?.slice(-10_000)}`,
        );
      await host.preparer?.stop().catch(() => undefined);
      const runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 0 });
      await runsvdir.start().catch(() => undefined);
      await runsvdir.stop({ stopServices: true }).catch(() => undefined);
      await host.store.close().catch(() => undefined);
      await host.kv.stop().catch(() => undefined);
      await artifacts.close();
      const hierarchy = await detectCgroups().catch(() => undefined);
      if (hierarchy) {
        // P2's flat names (the default) are this host's pods'; nested ones are below p2/<node>.
        for (const pod of pods)
          await removePodCgroups(hierarchy, {}, { node, pod }).catch(() => undefined);
        // uuid pods' flat cgroups are `<pod>-<uuid>__<launchable>`.
        const roots = hierarchy.version === 2 ? [hierarchy.root] : Object.values(hierarchy.mounts);
        for (const root of new Set(roots))
          for (const name of await readdir(root).catch(() => [] as string[]))
            if ([...pods].some((pod) => new RegExp(`^${pod}-[0-9a-f-]{36}__`).test(name)))
              await openCgroup(hierarchy, { name })
                .remove({ kill: true })
                .catch(() => undefined);
        await openCgroup(hierarchy, { name: `p2/${node}` })
          .remove({ kill: true })
          .catch(() => undefined);
      }
      for (const user of pods)
        if (await findUser(user))
          await removeUser(user, { removeGroup: true }).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    },
  };
  await host.startPreparer();
  return host;
}

/**
 * A test file's one host, driven through the built `p2`: starts it before the file's tests; after
 * them kills the `p2` processes still running and closes the host (its preparer log printed when a
 * test failed). `host()` is the host once started; the rest is {@link p2Runner} against its store.
 *
 * @example const { p2, host } = withTestHost(); beforeAll(() => { h = host(); });
 */
export function withTestHost(options: TestHostOptions = {}) {
  let host: TestHost | undefined;
  let failed = false;
  const cli = p2Runner(() => `consul://127.0.0.1:${host?.kvPort}`);
  beforeAll(async () => {
    host = await startTestHost(options);
  });
  afterEach((context) => {
    if (context.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    cli.killAll();
    await host?.close(failed);
  });
  return {
    ...cli,
    host(): TestHost {
      if (!host) throw new Error('the test host has not started');
      return host;
    },
  };
}
