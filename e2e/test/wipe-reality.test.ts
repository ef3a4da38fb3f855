/**
 * `p2 wipe-reality` end to end (P2: p2-wipe-reality NODE): the built p2, p2-kv-server and
 * p2-preparer as real processes on real runit, users and cgroups. Once the node's reality is gone,
 * its preparer checks every pod again: a pod that runs as intended keeps running (same process) and
 * its reality — legacy entry or uuid index — is recorded anew; a pod that no longer runs as
 * intended is deployed again. Needs root.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UuidPodStore } from '@p2/keyspace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

const run = promisify(execFile);
let h: TestHost;
let failed = false;

beforeAll(async () => {
  h = await startTestHost();
});
afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});
afterAll(async () => {
  await h?.close(failed);
});

const p2 = (...args: string[]) =>
  run(
    process.execPath,
    [
      join(repoRoot, 'apps/client/dist/cli.js'),
      ...args,
      '--store',
      `consul://127.0.0.1:${h.kvPort}`,
    ],
    { env: { PATH: process.env.PATH, P2_TOKEN_FILE: join(h.work, 'no-token') }, timeout: 60_000 },
  );

describe('p2 wipe-reality with a real preparer', () => {
  it('makes the preparer check every pod again: running ones are recorded anew, the rest re-deployed', async () => {
    const a = h.podId('a');
    const b = h.podId('b');
    const u = h.podId('u');
    const [portA, portB, portU] = [await freePort(), await freePort(), await freePort()];
    await h.store.put(`intent/${h.node}/${a}`, h.manifest(a, h.v1, portA, 'a').raw);
    await h.store.put(`intent/${h.node}/${b}`, h.manifest(b, h.v1, portB, 'b').raw);
    const uuid = await new UuidPodStore(h.store).schedule(h.node, h.manifest(u, h.v1, portU, 'u'));
    const pidOf = async (port: number) =>
      JSON.parse((await h.answer(port, '/_status')) ?? '{}').pid as number | undefined;
    const realityOf = async (id: string) =>
      (await h.store.get(`reality/${h.node}/${id}`)).value?.value;
    for (const [port, id] of [
      [portA, a],
      [portB, b],
      [portU, uuid],
    ] as const) {
      await waitFor(`${id} to answer`, async () => (await pidOf(port)) !== undefined, 60_000);
      await waitFor(`reality of ${id}`, () => realityOf(id), 30_000);
    }
    const pidA = await pidOf(portA);
    const pidU = await pidOf(portU);
    const pidB = await pidOf(portB);
    // B stops running as intended on disk: its launch's commit marker is gone. Nothing notices yet.
    const bManifest = join(h.work, 'pods', b, 'current_manifest.yaml');
    await rm(bManifest);

    const { stdout } = await p2('wipe-reality', '--node', h.node, '--yes', '--json');
    expect(JSON.parse(stdout)).toEqual({ node: h.node, deleted: [a, b, uuid].sort() });

    const legacyA = await waitFor('reality of a again', () => realityOf(a), 30_000);
    expect(Buffer.from(legacyA)).toEqual(Buffer.from(h.manifest(a, h.v1, portA, 'a').raw));
    const index = await waitFor('the uuid index again', () => realityOf(uuid), 30_000);
    expect(JSON.parse(Buffer.from(index).toString('utf8'))).toEqual({ pod_key: uuid });
    await waitFor('reality of b again', () => realityOf(b), 60_000);
    // B was deployed again (a new process, its manifest back on disk); A and U were only checked.
    await waitFor('b on a new process', async () => {
      const pid = await pidOf(portB);
      return pid !== undefined && pid !== pidB;
    });
    expect(existsSync(bManifest)).toBe(true);
    expect(await pidOf(portA)).toBe(pidA);
    expect(await pidOf(portU)).toBe(pidU);
    for (const pod of [a, b]) expect((await h.podState(pod))?.state).toBe('running');
  });

  it('asks for --yes when nobody is there to confirm, and deletes nothing', async () => {
    const error = await p2('wipe-reality', '--node', h.node).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toContain('pass --yes');
    expect((await h.store.keys(`reality/${h.node}/`)).value.length).toBe(3);
  });
});
