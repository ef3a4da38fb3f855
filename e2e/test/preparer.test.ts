/**
 * The preparer end to end on this host: the built p2-kv-server and p2-preparer binaries as real
 * processes, a real artifact server, real runit, users and cgroups. Needs root.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManifestBuilder } from '@p2/manifest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildArtifact } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

let h: TestHost;
let failed = false;
let podA: string;

beforeAll(async () => {
  h = await startTestHost();
  podA = h.podId('a');
  await writeFile(
    join(h.work, 'hooks', 'record-events'),
    `#!/bin/sh\necho "$HOOK_EVENT $HOOKED_POD_ID" >> ${join(h.work, 'hook-events.log')}\n`,
    { mode: 0o755 },
  );
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  await h?.close(failed);
});

describe('p2-preparer on a real host', () => {
  let portA: number;
  let pidA: number;

  it('deploys a scheduled pod: runs as its user, healthy, hooks fired, reality recorded', async () => {
    portA = await freePort();
    const m = h.manifest(podA, h.v1, portA, 'hello one');
    await h.store.put(`intent/${h.node}/${podA}`, m.raw);
    await waitFor('pod A to answer', async () => (await h.answer(portA)) === 'hello one\n', 60_000);
    const reality = await waitFor(
      'reality for pod A',
      async () => (await h.store.get(`reality/${h.node}/${podA}`)).value,
    );
    expect(Buffer.from(reality.value)).toEqual(Buffer.from(m.raw));
    expect((await h.podState(podA))?.state).toBe('running');
    const status = JSON.parse((await h.answer(portA, '/_status')) ?? '{}');
    pidA = status.pid;
    expect(status.pod).toBe(podA);
    const uid = (await readFile(`/proc/${pidA}/status`, 'utf8')).match(/^Uid:\s+(\d+)/m)?.[1];
    expect(
      (await readFile('/etc/passwd', 'utf8'))
        .split('\n')
        .find((l) => l.startsWith(`${podA}:`))
        ?.split(':')[2],
    ).toBe(uid);
    // P2's default cgroup name, flat: the launchable's service id directly under each mount.
    expect(await readFile(`/proc/${pidA}/cgroup`, 'utf8')).toMatch(
      new RegExp(`^\\d+:memory:/${podA}__app$`, 'm'),
    );
    const health = await waitFor('a passing health record', async () => {
      const { value } = await h.store.get(`health/${podA}/${h.node}`);
      const record = value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
      return record?.Status === 'passing' ? record : undefined;
    });
    expect(health).toMatchObject({ Id: podA, Node: h.node, Service: podA });
    const events = (await readFile(join(h.work, 'hook-events.log'), 'utf8')).trim().split('\n');
    expect(events).toEqual(
      ['before_install', 'after_install', 'before_launch', 'after_launch'].map(
        (e) => `${e} ${podA}`,
      ),
    );
    const metrics = await h.answer(h.statusPort, '/metrics');
    expect(metrics).toContain('p2_preparer_deploys_total{result="success"} 1');
  });

  it('never uninstalls a running pod because its intent became unreadable', async () => {
    await h.store.put(`intent/${h.node}/${podA}`, 'id: [this is not a manifest');
    await waitFor(
      'pod A to be reported invalid',
      async () => (await h.podState(podA))?.state === 'invalid',
    );
    expect((await h.podState(podA))?.error).toMatch(/intent|manifest|YAML|yaml/i);
    expect(await h.answer(portA)).toBe('hello one\n');
    expect((await h.store.get(`reality/${h.node}/${podA}`)).value).toBeDefined();
  });

  it('deploys an update: new artifact and config; last points at v1', async () => {
    await h.store.put(`intent/${h.node}/${podA}`, h.manifest(podA, h.v2, portA, 'hello two').raw);
    await waitFor('pod A v2', async () => (await h.answer(portA)) === 'hello two\n', 60_000);
    pidA = JSON.parse((await h.answer(portA, '/_status')) ?? '{}').pid;
    const app = join(h.work, 'pods', podA, 'app');
    expect(existsSync(join(app, 'installs', `app_${h.v2.version}`))).toBe(true);
    const { readlink } = await import('node:fs/promises');
    expect(await readlink(join(app, 'last'))).toContain(`app_${h.v1.version}`);
    expect(await readlink(join(app, 'current'))).toContain(`app_${h.v2.version}`);
  });

  it('restarting the preparer does not restart apps', async () => {
    await h.preparer.stop();
    await h.startPreparer('preparer-2');
    await waitFor(
      'pod A reported running again',
      async () => (await h.podState(podA))?.state === 'running',
      30_000,
    );
    await sleep(1500);
    expect(JSON.parse((await h.answer(portA, '/_status')) ?? '{}').pid).toBe(pidA);
  });

  it('a failing pod never delays another', async () => {
    const podB = h.podId('b');
    const podC = h.podId('c');
    const portB = await freePort();
    const portC = await freePort();
    await h.store.put(
      `intent/${h.node}/${podB}`,
      h.manifest(podB, `${h.artifacts.url}/missing_${'0'.repeat(40)}.tar.gz`, portB, 'b').raw,
    );
    await h.store.put(`intent/${h.node}/${podC}`, h.manifest(podC, h.v1, portC, 'hello c').raw);
    await waitFor('pod C to answer', async () => (await h.answer(portC)) === 'hello c\n', 60_000);
    await waitFor(
      'pod B to be reported failed',
      async () => (await h.podState(podB))?.state === 'failed',
    );
    expect((await h.podState(podB))?.error).toContain('missing_');
    expect((await h.store.get(`reality/${h.node}/${podB}`)).value).toBeUndefined();
    await h.store.delete(`intent/${h.node}/${podB}`);
    await h.store.delete(`intent/${h.node}/${podC}`);
    await waitFor(
      'pod C to be uninstalled',
      async () => !existsSync(join(h.work, 'pods', podC)) && (await h.answer(portC)) === undefined,
      60_000,
    );
  });

  it('keeps apps running while the store is down and catches up when it returns', async () => {
    await h.kv.kill9();
    await sleep(1000);
    expect(await h.answer(portA)).toBe('hello two\n');
    await h.restartKvServer();
    await h.store.put(`intent/${h.node}/${podA}`, h.manifest(podA, h.v1, portA, 'hello three').raw);
    await waitFor(
      'pod A v3 after the outage',
      async () => (await h.answer(portA)) === 'hello three\n',
      90_000,
    );
  });

  it('reports process exits of a crashing app to the store', async () => {
    const podX = h.podId('x');
    const src = join(h.work, 'crasher');
    await mkdir(join(src, 'bin'), { recursive: true });
    await writeFile(join(src, 'bin', 'launch'), '#!/bin/sh\nsleep 0.3\nexit 3\n', { mode: 0o755 });
    const artifact = await buildArtifact(src, join(h.work, 'artifacts'), 'crasher', h.id);
    const m = new ManifestBuilder()
      .setId(podX)
      .setLaunchable('app', {
        launchableType: 'hoist',
        location: `${h.artifacts.url}/${artifact.fileName}`,
      })
      .build();
    await h.store.put(`intent/${h.node}/${podX}`, m.raw);
    const state = await waitFor(
      'an exit record for the crashing app',
      async () => {
        const { value } = await h.store.get(`status/preparer/${h.node}/${podX}`);
        const record = value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
        return record?.processes?.[0]?.lastExit ? record : undefined;
      },
      30_000,
    );
    expect(state.processes[0]).toMatchObject({
      service: `${podX}__app__launch`,
      launchable: 'app',
      lastExit: { exitCode: 3, signal: null },
    });
    await h.store.delete(`intent/${h.node}/${podX}`);
    await waitFor(
      'the crasher to be removed',
      async () => !existsSync(join(h.work, 'pods', podX)),
      60_000,
    );
  });

  it('unscheduling uninstalls the pod and deletes its reality and health', async () => {
    await h.store.delete(`intent/${h.node}/${podA}`);
    await waitFor('pod A to be gone', async () => !existsSync(join(h.work, 'pods', podA)), 60_000);
    expect(await readFile(join(h.work, 'hook-events.log'), 'utf8')).toContain(
      `before_uninstall ${podA}`,
    );
    expect(await h.answer(portA)).toBeUndefined();
    await waitFor(
      'reality for pod A to be deleted',
      async () => (await h.store.get(`reality/${h.node}/${podA}`)).value === undefined,
    );
    expect(existsSync(join(h.work, 'service', `${podA}__app__launch`))).toBe(false);
    await waitFor(
      'the health record to go',
      async () => (await h.store.get(`health/${podA}/${h.node}`)).value === undefined,
    );
  });
});
