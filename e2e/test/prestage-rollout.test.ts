/**
 * Issue 21, pre-staging, on the three-host namespace setup with a slow artifact server (every
 * answer waits ARTIFACT_DELAY_MS): a `p2 replicate` of a new version without pre-staging, then
 * `p2 prestage --wait` followed by the same rollout — which then fetches nothing, so each host only
 * switches and restarts — and `p2 replicate --prestage` in one go. Prints the times (figures, not
 * assertions: speed is for benches). Needs root.
 */
import { PodTree } from '@p2/keyspace';
import { ManifestBuilder } from '@p2/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { p2Runner } from '../src/cli.js';
import {
  type Cluster,
  greetings,
  manifestFile,
  startCluster,
  tearDownClusterAfterAll,
  waitForPreparers,
} from '../src/multi-host.js';
import { waitFor } from '../src/processes.js';

const APP_PORT = 18380;
const ARTIFACT_DELAY_MS = 3000;
let cluster: Cluster;
let pod = '';
const { p2, killAll } = p2Runner(() => cluster.storeUrl);

beforeAll(async () => {
  cluster = await startCluster(3, { artifactDelayMs: ARTIFACT_DELAY_MS });
  pod = `p2t-pst-${cluster.id}`;
  await cluster.createPodUser(pod);
  // p2 replicate's preflight wants each node's reality to list p2-preparer (see multi-host-cli).
  const reality = new PodTree(cluster.store, 'reality');
  for (const h of cluster.hosts)
    await reality.setPod(h.node, new ManifestBuilder().setId('p2-preparer').build());
  await waitForPreparers(cluster);
});

tearDownClusterAfterAll(() => ({ cluster }), { killAll });

describe('pre-staging on three hosts with slow artifacts', () => {
  it('a pre-staged rollout fetches nothing; figures with and without pre-staging', async () => {
    const hosts = cluster.hosts.map((h) => h.node).join(',');
    const file = async (v: string) =>
      (await manifestFile(cluster, pod, v, APP_PORT, `hello ${v}`)).path;
    const fetchesOf = async (v: string) =>
      cluster.artifactRequests.filter((r) => r.startsWith(`/${v}`)).length;
    const artifactName = async (v: string) => (await cluster.artifact(v)).fileName;
    const replicate = async (path: string, ...more: string[]) => {
      const started = Date.now();
      const r = await p2(
        ['replicate', path, '--hosts', hosts, '--min-nodes', '1', '--timeout', '3m', ...more],
        600_000,
      );
      expect(r.code, `${r.out}${r.err}`).toBe(0);
      return Date.now() - started;
    };

    await replicate(await file('v1'));
    expect(await greetings(cluster, APP_PORT)).toEqual(['hello v1', 'hello v1', 'hello v1']);

    const plainMs = await replicate(await file('v2'));
    expect(await greetings(cluster, APP_PORT)).toEqual(['hello v2', 'hello v2', 'hello v2']);

    const v3 = await file('v3');
    const v3Name = await artifactName('v3');
    let started = Date.now();
    const staged = await p2(['prestage', v3, '--hosts', hosts, '--wait', '--json'], 600_000);
    expect(staged.code, staged.err).toBe(0);
    const prestageMs = Date.now() - started;
    expect(JSON.parse(staged.out).nodes.map((n: { state: string }) => n.state)).toEqual([
      'staged',
      'staged',
      'staged',
    ]);
    // v2 still serves everywhere: staging restarted nothing.
    expect(await greetings(cluster, APP_PORT)).toEqual(['hello v2', 'hello v2', 'hello v2']);
    const fetchedBefore = await fetchesOf(v3Name);
    expect(fetchedBefore).toBe(3);
    const stagedRolloutMs = await replicate(v3);
    expect(await fetchesOf(v3Name)).toBe(fetchedBefore);
    expect(await greetings(cluster, APP_PORT)).toEqual(['hello v3', 'hello v3', 'hello v3']);

    started = Date.now();
    await replicate(await file('v4'), '--prestage');
    const oneGoMs = Date.now() - started;
    expect(await greetings(cluster, APP_PORT)).toEqual(['hello v4', 'hello v4', 'hello v4']);
    // Each host removed the pre-stage request its deploy used up, with its answer.
    await waitFor(
      'every used-up prestage request to be removed',
      async () => (await cluster.store.keys('prestage/')).value.length === 0,
      30_000,
    );
    expect((await cluster.store.keys('status/prestage/')).value).toEqual([]);

    console.log(
      `[prestage figures] artifact delay ${ARTIFACT_DELAY_MS} ms, 3 hosts, --min-nodes 1: ` +
        `rollout without pre-staging ${plainMs} ms; p2 prestage --wait ${prestageMs} ms then rollout ${stagedRolloutMs} ms; ` +
        `p2 replicate --prestage ${oneGoMs} ms`,
    );
  });
});
