/**
 * The wrapper against real runc: a busybox bundle checked, its runtime spec built and run as
 * `nobody`, listed, killed and deleted. Containers and cgroups are `p2t-` named and removed even
 * when a test fails.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxConfig, writeBusyboxBundle } from '../../../test-support/busybox-bundle.js';
import { until } from '../../../test-support/until.js';
import {
  buildRuntimeSpec,
  checkBundleSpec,
  containerState,
  deleteContainer,
  killContainer,
  listContainers,
  runArgv,
} from './index.js';

const nobody = { uid: 65534, gid: 65534 };
const suffix = `${process.pid}`;
let dir = '';
let options = { runcPath: '/usr/sbin/runc', root: '' };
const ids = [`p2t-runc-once-${suffix}`, `p2t-runc-sleep-${suffix}`];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-runc-'));
  options = { runcPath: '/usr/sbin/runc', root: join(dir, 'state') };
});
afterAll(async () => {
  for (const id of ids) await deleteContainer(options, id, { force: true }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** Builds the runtime dir of a container running `args` and returns it. */
async function runtimeDir(name: string, args: string[]): Promise<string> {
  const bundle = await writeBusyboxBundle(join(dir, name), busyboxConfig(nobody, args));
  const checked = checkBundleSpec(JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')), {
    ...nobody,
    podHome: dir,
    bundleDir: bundle,
  });
  const spec = buildRuntimeSpec(checked, {
    ...nobody,
    env: { POD_ID: 'p2t' },
    cgroupsPath: `/p2t-runc-${name}-${suffix}`,
  });
  const runtime = join(dir, `${name}-runtime`);
  await writeBusyboxBundle(runtime, spec);
  return runtime;
}

function run(argv: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('runc wrapper (real runc, busybox)', () => {
  it('runs the built spec as the pod user, pid 1 of its own namespace, with the pod env and the bundle env', async () => {
    const runtime = await runtimeDir('once', [
      '/bin/sh',
      '-c',
      'id -u; id -g; echo pid=$$; echo $POD_ID $FROM_BUNDLE; touch /x 2>&1 || echo readonly',
    ]);
    const { code, out } = await run(runArgv(options, runtime, ids[0] as string));
    expect(out).toContain('65534\n65534\npid=1\np2t yes\n');
    expect(out).toContain('readonly');
    expect(code).toBe(0);
    // `runc run` deletes the container (and its cgroup) once its init exits.
    expect(await containerState(options, ids[0] as string)).toBeUndefined();
    expect(existsSync(`/sys/fs/cgroup/memory/p2t-runc-once-${suffix}`)).toBe(false);
  });

  it('lists a running container, kills it and deletes it', async () => {
    const id = ids[1] as string;
    const runtime = await runtimeDir('sleep', ['/bin/sleep', '600']);
    const exited = run(runArgv(options, runtime, id));
    await until('the container running', async () =>
      (await containerState(options, id))?.status === 'running' ? true : undefined,
    );
    const listed = await listContainers(options);
    expect(listed.map((c) => c.id)).toEqual([id]);
    expect(listed[0]?.pid).toBeGreaterThan(1);
    await killContainer(options, id, 'KILL');
    expect((await exited).code).toBe(137);
    await killContainer(options, id, 'KILL'); // stopped: no error
    await deleteContainer(options, id);
    await deleteContainer(options, id); // gone: no error
    expect(await listContainers(options)).toEqual([]);
  });
});
