/**
 * A freshly started p2-preparer with no pods (issue 23, nodes): its heartbeat makes the node known
 * at once, so `p2 nodes --json` (the built binary against a real p2-kv-server) lists it `ready`
 * with its version and start time, and `p2 schedule --node <it>` is accepted without --force.
 * Needs root.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../src/processes.js';
import { type TestHost, withTestHost } from '../src/test-host.js';

let h: TestHost;
const { p2, p2Json, host } = withTestHost();
beforeAll(() => {
  h = host();
});

interface NodeRow {
  node: string;
  status: string;
  preparer: boolean;
  version?: string;
  started?: string;
  lastSeen?: string;
  pods: { intent: number; reality: number };
}

describe('a fresh preparer', () => {
  it('is listed by p2 nodes before it runs anything, and p2 schedule --node accepts it', async () => {
    let row: NodeRow | undefined;
    await waitFor(
      'the fresh node in p2 nodes',
      async () => {
        row = (await p2Json<NodeRow[]>(['nodes'])).find((n) => n.node === h.node);
        return row !== undefined;
      },
      30_000,
    );
    expect(row).toMatchObject({
      status: 'ready',
      preparer: true,
      version: expect.any(String),
      pods: { intent: 0, reality: 0 },
    });
    expect(Date.parse(row?.started ?? '')).toBeLessThanOrEqual(Date.parse(row?.lastSeen ?? ''));

    const pod = h.podId('n');
    const port = await freePort();
    const file = join(h.work, `${pod}.yaml`);
    await writeFile(file, h.manifest(pod, h.v1, port, 'fresh').raw);
    const r = await p2(['schedule', file, '--node', h.node]);
    expect(r.code, r.err).toBe(0);
    await waitFor('the pod to answer', async () => (await h.answer(port)) === 'fresh\n', 120_000);
    expect((await p2(['unschedule', pod, '--node', h.node])).code).toBe(0);
  });
});
