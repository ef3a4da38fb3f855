/**
 * `p2 schedule --wait` / `p2 unschedule --wait` (issue 23) through the built p2 against a real
 * p2-kv-server and a real p2-preparer on real runit, users and cgroups: the wait ends when the pod
 * answers and is healthy, when the preparer refuses it (its reason printed), and when it is gone.
 * Needs root.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/processes.js';
import { type TestHost, withTestHost } from '../src/test-host.js';

let h: TestHost;
const { p2, host } = withTestHost();
beforeAll(() => {
  h = host();
});

describe('p2 schedule --wait with a real preparer', () => {
  it('returns once the pod runs and is healthy; unschedule --wait once it is gone', async () => {
    const pod = h.podId('w');
    const port = await freePort();
    const file = join(h.work, `${pod}.yaml`);
    await writeFile(file, h.manifest(pod, h.v1, port, 'waited').raw);
    const r = await p2(
      ['schedule', file, '--node', h.node, '--force', '--wait', '--timeout', '2m'],
      150_000,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`${pod} on ${h.node}: converged, preparer running, health passing`);
    expect(await h.answer(port)).toContain('waited');
    const gone = await p2(
      ['unschedule', pod, '--node', h.node, '--wait', '--timeout', '2m'],
      150_000,
    );
    expect(gone.code, gone.err).toBe(0);
    expect(gone.err).toContain(`${pod} on ${h.node}: gone`);
    expect(await h.answer(port)).toBeUndefined();
  });

  it("exits 1 naming the preparer's reason when the pod cannot be deployed", async () => {
    const pod = h.podId('f');
    const port = await freePort();
    const file = join(h.work, `${pod}.yaml`);
    const missing = `http://127.0.0.1:${await freePort()}/hello_missing.tar.gz`;
    await writeFile(file, h.manifest(pod, missing, port, 'never').raw);
    const r = await p2(
      ['schedule', file, '--node', h.node, '--force', '--wait', '--timeout', '2m'],
      150_000,
    );
    expect(r.code, r.err).toBe(1);
    expect(r.err).toContain(`error: ${pod} on ${h.node}: failed`);
    await p2(['unschedule', pod, '--node', h.node]);
  });
});
