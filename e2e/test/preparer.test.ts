/**
 * The preparer end to end on this host: the built p2-kv-server and p2-preparer binaries as real
 * processes, a real artifact server, real runit, users and cgroups. Needs root.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupName, detectCgroups, openCgroup } from '@p2/cgroups';
import { createStore, type Store } from '@p2/kv';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuiltArtifact,
  buildArtifact,
  type FileServer,
  helloAppDir,
  serveDirectory,
  tempDir,
} from '../src/artifacts.js';
import {
  freePort,
  type Proc,
  startKvServerProcess,
  startPreparerProcess,
  waitFor,
} from '../src/processes.js';

const id = randomBytes(3).toString('hex');
const node = `p2t-e2e-${id}`;
const podA = `p2t-a-${id}`;
const podB = `p2t-b-${id}`;
const podC = `p2t-c-${id}`;

let work: string;
let kv: Proc & { url: string };
let kvPort: number;
let preparer: Proc;
let store: Store;
let artifacts: FileServer;
let v1: BuiltArtifact;
let v2: BuiltArtifact;
let configPath: string;
let statusPort: number;
let failed = false;

function manifest(
  pod: string,
  artifact: BuiltArtifact | string,
  port: number,
  greeting: string,
): Manifest {
  const location =
    typeof artifact === 'string' ? artifact : `${artifacts.url}/${artifact.fileName}`;
  return new ManifestBuilder()
    .setId(pod)
    .setLaunchable('app', { launchableType: 'hoist', location, restartTimeout: '5s' })
    .setConfig({ port, greeting })
    .setStatusPort(port)
    .setStatusHttp(true)
    .build();
}

async function answer(port: number, path = '/'): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
  return res ? await res.text() : undefined;
}

async function podState(pod: string): Promise<{ state: string; error?: string } | undefined> {
  const { value } = await store.get(`status/preparer/${node}/${pod}`);
  return value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
}

beforeAll(async () => {
  work = await tempDir('e2e-preparer');
  await chmod(work, 0o755); // pod users must reach their homes below it
  for (const dir of ['artifacts', 'pods', 'service', 'kv', 'logs', 'src2', 'hooks'])
    await mkdir(join(work, dir), { recursive: true });
  await writeFile(
    join(work, 'hooks', 'record-events'),
    `#!/bin/sh\necho "$HOOK_EVENT $HOOKED_POD_ID" >> ${join(work, 'hook-events.log')}\n`,
    { mode: 0o755 },
  );
  v1 = await buildArtifact(helloAppDir, join(work, 'artifacts'), 'hello', 'v1');
  await cp(helloAppDir, join(work, 'src2'), { recursive: true });
  await writeFile(join(work, 'src2', 'VERSION'), '2');
  v2 = await buildArtifact(join(work, 'src2'), join(work, 'artifacts'), 'hello', 'v2');
  artifacts = await serveDirectory(join(work, 'artifacts'));
  kvPort = await freePort();
  kv = await startKvServerProcess(join(work, 'kv'), kvPort, join(work, 'logs'));
  store = createStore(`consul://127.0.0.1:${kvPort}`);
  statusPort = await freePort();
  configPath = join(work, 'preparer.yaml');
  await writeFile(
    configPath,
    [
      'preparer:',
      `  node_name: ${node}`,
      `  store: consul://127.0.0.1:${kvPort}`,
      `  pod_root: ${join(work, 'pods')}`,
      `  service_root: ${join(work, 'service')}`,
      `  status_port: ${statusPort}`,
      '  auth: {type: none}',
      '  require_preparer_in_intent: false',
      '  health_check_host: 127.0.0.1',
      `  hooks_directory: ${join(work, 'hooks')}`,
      '  log_level: debug',
      '',
    ].join('\n'),
  );
  preparer = startPreparerProcess(configPath, join(work, 'logs'));
  await waitFor(
    'the preparer status server',
    async () => (await answer(statusPort, '/_status')) === 'p2-preparer OK',
    30_000,
  );
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  if (failed) {
    console.log(`--- preparer log ---\n${(await preparer?.log())?.slice(-8000)}`);
  }
  await preparer?.stop();
  const runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 0 });
  await runsvdir.start().catch(() => undefined);
  await runsvdir.stop({ stopServices: true }).catch(() => undefined);
  await store?.close();
  await kv?.stop();
  await artifacts?.close();
  const hierarchy = await detectCgroups().catch(() => undefined);
  if (hierarchy)
    await openCgroup(hierarchy, { name: cgroupName({ node, pod: 'x' }).replace(/\/x$/, '') })
      .remove({ kill: true })
      .catch(() => undefined);
  for (const user of [podA, podB, podC])
    if (await findUser(user)) await removeUser(user, { removeGroup: true }).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('p2-preparer on a real host', () => {
  let portA: number;
  let pidA: number;

  it('deploys a scheduled pod and records reality', async () => {
    portA = await freePort();
    const m = manifest(podA, v1, portA, 'hello one');
    await store.put(`intent/${node}/${podA}`, m.raw);
    await waitFor('pod A to answer', async () => (await answer(portA)) === 'hello one\n', 60_000);
    const reality = await waitFor(
      'reality for pod A',
      async () => (await store.get(`reality/${node}/${podA}`)).value,
    );
    expect(Buffer.from(reality.value)).toEqual(Buffer.from(m.raw));
    expect((await podState(podA))?.state).toBe('running');
    pidA = JSON.parse((await answer(portA, '/_status')) ?? '{}').pid;
    expect(pidA).toBeGreaterThan(0);
    const health = await waitFor('a passing health record', async () => {
      const { value } = await store.get(`health/${podA}/${node}`);
      const record = value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
      return record?.Status === 'passing' ? record : undefined;
    });
    expect(health).toMatchObject({ Id: podA, Node: node, Service: podA });
    const events = (await readFile(join(work, 'hook-events.log'), 'utf8')).trim().split('\n');
    expect(events).toEqual(
      ['before_install', 'after_install', 'before_launch', 'after_launch'].map(
        (e) => `${e} ${podA}`,
      ),
    );
    const metrics = await answer(statusPort, '/metrics');
    expect(metrics).toContain('p2_preparer_deploys_total{result="success"} 1');
  });

  it('never uninstalls a running pod because its intent became unreadable', async () => {
    await store.put(`intent/${node}/${podA}`, 'id: [this is not a manifest');
    await waitFor(
      'pod A to be reported invalid',
      async () => (await podState(podA))?.state === 'invalid',
    );
    expect((await podState(podA))?.error).toMatch(/intent|manifest|YAML|yaml/i);
    expect(await answer(portA)).toBe('hello one\n');
    expect((await store.get(`reality/${node}/${podA}`)).value).toBeDefined();
  });

  it('deploys an update: new artifact and config', async () => {
    await store.put(`intent/${node}/${podA}`, manifest(podA, v2, portA, 'hello two').raw);
    await waitFor('pod A v2', async () => (await answer(portA)) === 'hello two\n', 60_000);
    pidA = JSON.parse((await answer(portA, '/_status')) ?? '{}').pid;
    expect(existsSync(join(work, 'pods', podA, 'app', 'installs', `app_${v2.version}`))).toBe(true);
  });

  it('restarting the preparer does not restart apps', async () => {
    await preparer.stop();
    preparer = startPreparerProcess(configPath, join(work, 'logs'), 'preparer-2');
    await waitFor(
      'the restarted preparer',
      async () => (await answer(statusPort, '/_status')) === 'p2-preparer OK',
      30_000,
    );
    await waitFor(
      'pod A reported running again',
      async () => (await podState(podA))?.state === 'running',
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(JSON.parse((await answer(portA, '/_status')) ?? '{}').pid).toBe(pidA);
  });

  it('a failing pod never delays another', async () => {
    const portB = await freePort();
    const portC = await freePort();
    await store.put(
      `intent/${node}/${podB}`,
      manifest(podB, `${artifacts.url}/missing_${'0'.repeat(40)}.tar.gz`, portB, 'b').raw,
    );
    await store.put(`intent/${node}/${podC}`, manifest(podC, v1, portC, 'hello c').raw);
    await waitFor('pod C to answer', async () => (await answer(portC)) === 'hello c\n', 60_000);
    await waitFor(
      'pod B to be reported failed',
      async () => (await podState(podB))?.state === 'failed',
    );
    expect((await podState(podB))?.error).toContain('missing_');
    expect((await store.get(`reality/${node}/${podB}`)).value).toBeUndefined();
    await store.delete(`intent/${node}/${podB}`);
    await store.delete(`intent/${node}/${podC}`);
    await waitFor(
      'pod C to be uninstalled',
      async () => !existsSync(join(work, 'pods', podC)) && (await answer(portC)) === undefined,
      60_000,
    );
  });

  it('keeps apps running while the store is down and catches up when it returns', async () => {
    await kv.kill9();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await answer(portA)).toBe('hello two\n');
    kv = await startKvServerProcess(join(work, 'kv'), kvPort, join(work, 'logs'));
    await store.put(`intent/${node}/${podA}`, manifest(podA, v1, portA, 'hello three').raw);
    await waitFor(
      'pod A v3 after the outage',
      async () => (await answer(portA)) === 'hello three\n',
      90_000,
    );
  });

  it('unscheduling uninstalls the pod and deletes its reality', async () => {
    await store.delete(`intent/${node}/${podA}`);
    await waitFor('pod A to be gone', async () => !existsSync(join(work, 'pods', podA)), 60_000);
    expect(await readFile(join(work, 'hook-events.log'), 'utf8')).toContain(
      `before_uninstall ${podA}`,
    );
    expect(await answer(portA)).toBeUndefined();
    await waitFor(
      'reality for pod A to be deleted',
      async () => (await store.get(`reality/${node}/${podA}`)).value === undefined,
    );
    expect(existsSync(join(work, 'service', `${podA}__app__launch`))).toBe(false);
    await waitFor(
      'the health record to go',
      async () => (await store.get(`health/${podA}/${node}`)).value === undefined,
    );
  });
});
