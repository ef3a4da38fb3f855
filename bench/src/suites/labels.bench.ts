/**
 * Controllers at fleet scale: `@p2/labels` + `@p2/rc` against `@p2/kv-server` on loopback, in one
 * process.
 *
 * - Selector parse + match over 1,000 node label sets (pure CPU). Baseline: a hand-written
 *   equality check of the same labels.
 * - 1,000 simulated nodes, 10 replication controllers of 1,000 replicas each (10,000 placements):
 *   placements per second until every intent (and pod label, and audit record) is written, then
 *   the time until simulated preparers (32 in flight, each listing its node's intent and writing
 *   reality) report all 10,000 in reality. Baseline: the same 10,000 intent + label writes as bare
 *   64-op transactions (no selection, placement, CAS reads or audit) — the store's own cost.
 *   Reference: Nomad's published C1M figure is 3,750 placements/s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  encodeLabels,
  intentKey,
  LabelStore,
  labelKey,
  nodePodsPrefix,
  Prefix,
  podLabelId,
  type RcRecord,
  realityKey,
} from '@p2/keyspace';
import { createStore, type Store, type TxnOp } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { parseSelector } from '@p2/labels';
import { parseManifest } from '@p2/manifest';
import { RcStore, reconcileRc } from '@p2/rc';
import { LabelScheduler } from '@p2/scheduler';
import { measure, report, summarize } from '../harness.js';

const NODES = 1_000;
const RCS = 10;
const REPLICAS = 1_000;

function manifestText(podId: string): string {
  return `id: ${podId}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/${podId}_1.tar.gz\n`;
}

async function selectorSuite(): Promise<void> {
  const sets = Array.from({ length: NODES }, (_, i) => ({
    availability_zone: `az${i % 3}`,
    role: i % 2 ? 'web' : 'db',
    rack: `r${i % 40}`,
  }));
  const text = 'role=web,availability_zone in (az0,az2),!drained';
  const baseline = await measure(
    'hand-written check × 1,000',
    () =>
      sets.filter(
        (l) =>
          l.role === 'web' &&
          (l.availability_zone === 'az0' || l.availability_zone === 'az2') &&
          !('drained' in l),
      ).length,
    { runs: 200, opsPerRun: NODES },
  );
  const parsed = parseSelector(text);
  const match = await measure(
    'Selector.matches × 1,000',
    () => sets.filter((l) => parsed.matches(l)).length,
    {
      runs: 200,
      opsPerRun: NODES,
    },
  );
  const parse = await measure('parseSelector + toString', () => parseSelector(text).toString(), {
    runs: 2_000,
  });
  report('label selectors', baseline, [match, parse]);
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function withServer(fn: (store: Store) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-bench-rc-'));
  const server = await startKvServer({ dataDir, port: 0 });
  const store = createStore(`consul://127.0.0.1:${server.port}`);
  try {
    await fn(store);
  } finally {
    await store.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function labelNodes(store: Store): Promise<void> {
  await new LabelStore(store).applyBatch(
    Array.from({ length: NODES }, (_, i) => ({
      type: 'node' as const,
      id: `node${String(i).padStart(4, '0')}`,
      set: { role: 'web', availability_zone: `az${i % 3}` },
    })),
  );
}

async function simulatedPreparers(store: Store): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < NODES) {
      const node = `node${String(next++).padStart(4, '0')}`;
      const prefix = nodePodsPrefix('intent', node);
      const intents = (await store.list(prefix)).value;
      for (const e of intents)
        await store.put(realityKey(node, e.key.slice(prefix.length)), e.value);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

async function placementSuite(): Promise<void> {
  const total = RCS * REPLICAS;
  let baselineMs = 0;
  await withServer(async (store) => {
    await labelNodes(store);
    baselineMs = await timed(async () => {
      const ops: TxnOp[][] = [];
      for (let r = 0; r < RCS; r++) {
        const podId = `bench${r}`;
        const raw = manifestText(podId);
        for (let i = 0; i < REPLICAS; i += 32) {
          const chunk: TxnOp[] = [];
          for (let j = i; j < Math.min(i + 32, REPLICAS); j++) {
            const node = `node${String(j).padStart(4, '0')}`;
            chunk.push({ verb: 'set', key: intentKey(node, podId), value: raw });
            chunk.push({
              verb: 'set',
              key: labelKey('pod', podLabelId(node, podId)),
              value: encodeLabels({ pod_id: podId, replication_controller_id: `rc${r}` }),
            });
          }
          ops.push(chunk);
        }
      }
      let k = 0;
      await Promise.all(
        Array.from({ length: RCS }, async () => {
          while (k < ops.length) await store.txn(ops[k++]!);
        }),
      );
    });
  });

  let placeMs = 0;
  let realityMs = 0;
  await withServer(async (store) => {
    await labelNodes(store);
    const labels = new LabelStore(store);
    const scheduler = new LabelScheduler(store, { labels });
    const rcs = new RcStore(store, { labels });
    const created: RcRecord[] = [];
    for (let r = 0; r < RCS; r++) {
      created.push(
        await rcs.create({
          manifest: parseManifest(manifestText(`bench${r}`)),
          nodeSelector: 'role=web',
          replicasDesired: REPLICAS,
          topologySpreadKey: 'availability_zone',
        }),
      );
    }
    placeMs = await timed(async () => {
      await Promise.all(created.map((rc) => reconcileRc({ store, labels, scheduler }, rc)));
    });
    const intents = (await store.keys(Prefix.intent)).value.length;
    if (intents !== total) throw new Error(`expected ${total} intents, found ${intents}`);
    realityMs = await timed(() => simulatedPreparers(store));
    const realities = (await store.keys(Prefix.reality)).value.length;
    if (realities !== total) throw new Error(`expected ${total} realities, found ${realities}`);
  });

  const per = (ms: number) => summarize('', [ms / total]);
  const baseline = {
    ...per(baselineMs),
    name: `bare txns: ${total} intent+label writes (${(baselineMs / 1000).toFixed(2)} s)`,
  };
  const place = {
    ...per(placeMs),
    name: `RC reconcile: ${total} placements (${(placeMs / 1000).toFixed(2)} s)`,
  };
  const reality = {
    ...per(placeMs + realityMs),
    name: `… until all in reality (+${(realityMs / 1000).toFixed(2)} s by simulated preparers)`,
  };
  report(
    `${NODES} nodes, ${RCS} RCs × ${REPLICAS} replicas (per placement; ops/s = placements/s)`,
    baseline,
    [place, reality],
  );
  console.log(`placements/s: ${Math.round((total * 1000) / placeMs)} (Nomad C1M reference: 3,750)`);
}

export async function run(): Promise<void> {
  await selectorSuite();
  await placementSuite();
}
