/**
 * P2's pod whitelist phase (`pod_whitelist_file`, spec 02 §1.5): after a reimage, only the listed
 * pods install until the file is emptied (P2 needed it deleted); then the rest of intent follows.
 */
import { chmod, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

let h: TestHost;
let failed = false;
let dir = '';
let whitelist = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-whitelist-'));
  await chmod(dir, 0o755);
  whitelist = join(dir, 'pod-whitelist');
  // The phase runs from the preparer's start, while the file lists anything (ids come later).
  await writeFile(whitelist, 'p2t-not-yet\n', { mode: 0o644 });
  h = await startTestHost({ extraConfig: [`  pod_whitelist_file: ${whitelist}`] });
});
afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});
afterAll(async () => {
  await h?.close(failed);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('pod_whitelist_file', () => {
  it('installs only the listed pods until the file is emptied, then the rest of intent', async () => {
    const listed = h.podId('w');
    const other = h.podId('x');
    const [listedPort, otherPort] = [await freePort(), await freePort()];
    // Read again within 10 s (P2's interval).
    await writeFile(whitelist, `${listed}\n`, { mode: 0o644 });
    await h.store.put(
      `intent/${h.node}/${listed}`,
      h.manifest(listed, h.v1, listedPort, 'listed').raw,
    );
    await h.store.put(`intent/${h.node}/${other}`, h.manifest(other, h.v1, otherPort, 'other').raw);
    await waitFor(
      'the listed pod to answer',
      async () => (await h.answer(listedPort)) === 'listed\n',
      60_000,
    );
    // The other pod waits: give the preparer another whole round.
    await sleep(11_000);
    expect(await h.answer(otherPort)).toBeUndefined();
    expect(await h.podState(other)).toBeUndefined();

    // A whitelist others could write decides nothing: refused, and still nothing else installs.
    // (Swapped in whole, so the preparer never sees it listing `other` while still safe.)
    await writeFile(`${whitelist}.new`, `${other}\n`);
    await chmod(`${whitelist}.new`, 0o666);
    await rename(`${whitelist}.new`, whitelist);
    await sleep(11_000);
    expect(await h.answer(otherPort)).toBeUndefined();

    // Emptied (P2 needed it deleted): the phase ends and the rest of intent is installed.
    await writeFile(`${whitelist}.new`, '\n');
    await chmod(`${whitelist}.new`, 0o644);
    await rename(`${whitelist}.new`, whitelist);
    await waitFor(
      'the other pod to answer',
      async () => (await h.answer(otherPort)) === 'other\n',
      60_000,
    );
  }, 150_000);
});
