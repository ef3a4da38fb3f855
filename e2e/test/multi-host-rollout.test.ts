/**
 * Issue 21 on the three-host namespace setup: each host's preparer reverts a version that never
 * gets healthy by itself while the store is stopped (v1 serves again on every host, and once the
 * store is back every host says `reverted`), and `p2 trace` of that deploy has every step of every
 * host. Needs root.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { realityKey } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { p2Runner } from '../src/cli.js';
import {
  type Cluster,
  greetings,
  helloManifest,
  startCluster,
  tearDownClusterAfterAll,
  waitForPreparers,
} from '../src/multi-host.js';
import { waitFor } from '../src/processes.js';

const APP_PORT = 18280;
let cluster: Cluster;
let pod = '';
const { p2, killAll } = p2Runner(() => cluster.storeUrl);

beforeAll(async () => {
  cluster = await startCluster(3);
  pod = `p2t-rev-${cluster.id}`;
  await cluster.createPodUser(pod);
  await waitForPreparers(cluster);
});

tearDownClusterAfterAll(() => ({ cluster }), { killAll });

describe('host-local auto-revert and deploy traces on three hosts', () => {
  it('every host reverts a never-healthy version by itself with the store stopped; the trace has every step of every host', async () => {
    const v1 = helloManifest(cluster, pod, await cluster.artifact('v1'), APP_PORT, 'hello v1');
    // v2 answers on another port than its status port, where nothing listens: it never passes.
    const v2 = helloManifest(
      cluster,
      pod,
      await cluster.artifact('v2'),
      APP_PORT + 2,
      'hello v2',
      APP_PORT + 1,
    );
    const v1File = join(cluster.work, `${pod}-v1.yaml`);
    const v2File = join(cluster.work, `${pod}-v2.yaml`);
    await writeFile(v1File, v1.text());
    await writeFile(v2File, v2.text());
    for (const h of cluster.hosts) {
      const label = await p2(['label', 'set', 'pod', `${h.node}/${pod}`, 'p2.io/revert-after=4s']);
      expect(label.code, label.err).toBe(0);
      const r = await p2(['schedule', v1File, '--node', h.node, '--force', '--wait'], 150_000);
      expect(r.code, r.err).toBe(0);
    }
    expect(await greetings(cluster, APP_PORT)).toEqual(['hello v1', 'hello v1', 'hello v1']);

    for (const h of cluster.hosts)
      expect((await p2(['schedule', v2File, '--node', h.node, '--force'])).code).toBe(0);
    await waitFor(
      'v2 in reality on every host',
      async () => {
        for (const h of cluster.hosts) {
          const { value } = await cluster.store.get(realityKey(h.node, pod));
          if (!value || parseManifest(Buffer.from(value.value)).sha() !== v2.sha()) return false;
        }
        return true;
      },
      120_000,
      250,
    );
    await cluster.kv?.stop(); // the reverts must not need the store
    await waitFor(
      'every host serving v1 again',
      async () => (await greetings(cluster, APP_PORT)).every((g) => g === 'hello v1'),
      60_000,
      250,
    );
    expect(await greetings(cluster, APP_PORT + 2)).toEqual(['', '', '']);

    await cluster.restartStore();
    const rows = await waitFor(
      'every host to say reverted',
      async () => {
        const r = await p2(['inspect', '--pod', pod, '--json']);
        if (r.code !== 0) return undefined;
        const pods = (JSON.parse(r.out) as { pods: Array<{ node: string; verdict: string }> }).pods;
        return pods.length === 3 && pods.every((p) => p.verdict === 'reverted') ? pods : undefined;
      },
      60_000,
      500,
    );
    expect(rows.map((p) => p.node).sort()).toEqual(cluster.hosts.map((h) => h.node).sort());
    expect((await p2(['inspect', '--pod', pod, '--exit-status'])).code).toBe(1);

    const trace = await waitFor('the trace of v2 with every revert', async () => {
      const r = await p2(['trace', v2.sha(), '--json']);
      const parsed =
        r.code === 0
          ? (JSON.parse(r.out) as {
              hosts: Array<{ node: string; outcome: string; spans: Array<{ name: string }> }>;
            })
          : undefined;
      return parsed?.hosts.length === 3 && parsed.hosts.every((h) => h.outcome === 'reverted')
        ? parsed
        : undefined;
    });
    for (const host of trace.hosts) {
      const names = host.spans.map((s) => s.name);
      for (const step of [
        'authorize',
        'install',
        'download app',
        'verify app',
        'extract app',
        'halt_previous',
        'launch',
        'start',
        'enable',
        'write_reality',
        'healthy',
        'revert',
      ])
        expect(names, host.node).toContain(step);
    }
    const text = await p2(['trace', v2.sha()]);
    expect(text.out).toContain(`deploy ${v2.sha().slice(0, 12)}: 3 host(s)`);
    for (const h of cluster.hosts) expect(text.out).toContain(`${h.node} ${pod}: reverted`);
  });
});
