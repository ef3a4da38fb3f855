/**
 * Crash safety: SIGKILL the preparer at random points during 30 deploys. Every time it converges
 * to the latest intent, `current` never points at a half-installed version, and once converged a
 * preparer restart does not restart the app.
 */
import { existsSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

const DEPLOYS = 30;
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

describe('the preparer under SIGKILL', () => {
  it(`converges after being killed during each of ${DEPLOYS} deploys`, async () => {
    const pod = h.podId('k');
    const port = await freePort();
    const app = join(h.work, 'pods', pod, 'app');
    const killedAt: number[] = [];
    for (let i = 0; i < DEPLOYS; i++) {
      const artifact = i % 2 === 0 ? h.v1 : h.v2;
      const manifest = h.manifest(pod, artifact, port, `crash ${i}`);
      await h.store.put(`intent/${h.node}/${pod}`, manifest.raw);
      const delay = Math.floor(Math.random() * 400);
      killedAt.push(delay);
      await sleep(delay);
      await h.preparer.kill9();
      await h.startPreparer(`preparer-${i}`);
      await waitFor(
        `deploy ${i} (killed after ${delay} ms) to converge`,
        async () => (await h.answer(port)) === `crash ${i}\n`,
        60_000,
      );

      // `current` names a complete install of the version intent asked for.
      const current = await readlink(join(app, 'current'));
      expect(current).toContain(`app_${artifact.version}`);
      expect(existsSync(join(current, 'bin', 'launch'))).toBe(true);
      for (const entry of await readdir(join(app, 'installs'))) {
        if (entry.startsWith('.')) continue; // staging debris is hidden and pruned, never current
        expect(existsSync(join(app, 'installs', entry, 'bin', 'launch'))).toBe(true);
      }
      const reality = await waitFor('reality to match intent', async () => {
        const { value } = await h.store.get(`reality/${h.node}/${pod}`);
        return value && Buffer.compare(Buffer.from(value.value), Buffer.from(manifest.raw)) === 0;
      });
      expect(reality).toBe(true);
    }

    // Converged: killing and restarting the preparer now leaves the app alone.
    const pid = JSON.parse((await h.answer(port, '/_status')) ?? '{}').pid;
    await h.preparer.kill9();
    await h.startPreparer('preparer-final');
    await waitFor(
      'the pod to be reported running',
      async () => (await h.podState(pod))?.state === 'running',
      30_000,
    );
    await sleep(1500);
    expect(JSON.parse((await h.answer(port, '/_status')) ?? '{}').pid).toBe(pid);
    console.log(`killed after (ms): ${killedAt.join(', ')}`);
  });
});
