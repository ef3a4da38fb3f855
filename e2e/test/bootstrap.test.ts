/**
 * p2-bootstrap end to end: from nothing to a host whose store and preparer are pods managed by p2;
 * idempotent; an app deploys through the bootstrapped preparer; the preparer updates itself with
 * one restart and without restarting the app.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { detectCgroups, openCgroup } from '@p2/cgroups';
import { createStore, type Store } from '@p2/kv';
import { ManifestBuilder, parseManifest } from '@p2/manifest';
import { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildArtifact,
  type FileServer,
  helloAppDir,
  repoRoot,
  serveDirectory,
  tempDir,
} from '../src/artifacts.js';
import { runBootstrap } from '../src/bootstrap.js';
import { freePort, waitFor } from '../src/processes.js';

const run = promisify(execFile);
const id = randomBytes(3).toString('hex');
const node = `p2t-boot-${id}`;
const kvUser = `p2t-kv-${id}`;
const appPod = `p2t-hello-${id}`;
let work = '';
let store: Store | undefined;
let artifacts: FileServer | undefined;

const bootstrap = (kvPort: number, statusPort: number) =>
  runBootstrap(work, { node, kvPort, statusPort, kvUser });

async function pidOf(service: string): Promise<number> {
  return Number(
    (await readFile(join(work, 'service', service, 'supervise', 'pid'), 'utf8')).trim(),
  );
}

afterAll(async () => {
  await store?.close();
  await artifacts?.close();
  if (work) {
    const runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 0 });
    await runsvdir.start().catch(() => undefined);
    await runsvdir.stop({ stopServices: true }).catch(() => undefined);
    const hierarchy = await detectCgroups().catch(() => undefined);
    if (hierarchy)
      await openCgroup(hierarchy, { name: `p2/${node}` })
        .remove({ kill: true })
        .catch(() => undefined);
    for (const user of [kvUser, appPod])
      if (await findUser(user))
        await removeUser(user, { removeGroup: true }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
});

describe('p2-bootstrap', () => {
  it('sets up a host, is idempotent, deploys an app, and lets the preparer update itself', async () => {
    work = await tempDir('e2e-bootstrap');
    await run('chmod', ['755', work]);
    const kvPort = await freePort();
    const statusPort = await freePort();

    const first = await bootstrap(kvPort, statusPort);
    expect(first.pods).toEqual([
      { pod: 'p2-kv-server', action: 'installed' },
      { pod: 'p2-preparer', action: 'installed' },
    ]);
    expect(await (await fetch(`http://127.0.0.1:${statusPort}/_status`)).text()).toBe(
      'p2-preparer OK',
    );
    store = createStore(`consul://127.0.0.1:${kvPort}`);
    const { value: keys } = await store.keys(`reality/${node}/`);
    expect(keys).toEqual([`reality/${node}/p2-kv-server`, `reality/${node}/p2-preparer`]);
    // The store runs as its own user; the preparer as root.
    const kvPid = await pidOf('p2-kv-server__kv-server__launch');
    const kvUid = (await readFile(`/proc/${kvPid}/status`, 'utf8')).match(/^Uid:\s+(\d+)/m)?.[1];
    expect(Number(kvUid)).toBe((await findUser(kvUser))?.uid);

    const preparerPid = await pidOf('p2-preparer__preparer__launch');
    const second = await bootstrap(kvPort, statusPort);
    expect(second.pods.map((p) => p.action)).toEqual(['unchanged', 'unchanged']);
    expect(await pidOf('p2-preparer__preparer__launch')).toBe(preparerPid);
    expect(await pidOf('p2-kv-server__kv-server__launch')).toBe(kvPid);

    // An app, deployed through the store by the bootstrapped preparer.
    const artifact = await buildArtifact(helloAppDir, join(work, 'artifacts'), 'hello', id);
    artifacts = await serveDirectory(join(work, 'artifacts'));
    const appPort = await freePort();
    const app = new ManifestBuilder()
      .setId(appPod)
      .setLaunchable('app', {
        launchableType: 'hoist',
        location: `${artifacts.url}/${artifact.fileName}`,
      })
      .setConfig({ port: appPort, greeting: 'bootstrapped' })
      .setStatusPort(appPort)
      .setStatusHttp(true)
      .build();
    await store.put(`intent/${node}/${appPod}`, app.raw);
    await waitFor(
      'the app to answer',
      async () =>
        (await fetch(`http://127.0.0.1:${appPort}/`).then(
          (r) => r.text(),
          () => undefined,
        )) === 'bootstrapped\n',
      60_000,
    );
    const appPid = await pidOf(`${appPod}__app__launch`);

    // The preparer deploys its own new version: one restart, the app untouched.
    const { value: entry } = await store.get(`intent/${node}/p2-preparer`);
    const current = parseManifest(entry?.value ?? new Uint8Array());
    const config = structuredClone(current.config) as { preparer: Record<string, unknown> };
    config.preparer.log_level = 'debug';
    const next = current.toBuilder().setConfig(config).build();
    await store.put(`intent/${node}/p2-preparer`, next.raw);
    await waitFor(
      'the preparer to record its new version',
      async () => {
        const { value } = await (store as Store).get(`reality/${node}/p2-preparer`);
        return value && parseManifest(value.value).sha() === next.sha();
      },
      60_000,
    );
    await waitFor(
      'the new preparer to serve',
      async () =>
        (await fetch(`http://127.0.0.1:${statusPort}/_status`).then(
          (r) => r.text(),
          () => undefined,
        )) === 'p2-preparer OK',
    );
    expect(await pidOf('p2-preparer__preparer__launch')).not.toBe(preparerPid);
    const exits = (
      await readFile(join(work, 'service', 'p2-preparer__preparer__launch', 'exits.jsonl'), 'utf8')
    )
      .trim()
      .split('\n');
    expect(exits.length).toBeLessThanOrEqual(2); // at most the self-restart (plus one at first start)
    expect(await pidOf(`${appPod}__app__launch`)).toBe(appPid);
  });
});
