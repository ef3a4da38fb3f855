/**
 * Test helpers: nodes with a (simulated) preparer on a real kv-server — the test decides, node by
 * node, when a pod becomes healthy, and writes reality and health records as P2's preparers do.
 * @internal
 */
import { type HealthState, HealthStore, PodTree, PrestageStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { type Manifest, parseManifest } from '@p2/manifest';

/** A manifest for tests; `version` changes its SHA. */
export function testManifest(podId: string, version: string): Manifest {
  return parseManifest(`id: ${podId}\nconfig:\n  version: ${version}\n`);
}

/**
 * Simulated preparers for `nodes`: each registers `reality/<node>/p2-preparer`, then every `stepMs`
 * copies the pod's intent to reality and writes its health: `healthOf(node, version)` after
 * `healthyAfterSteps` steps (`critical` before, as a restarting pod), where `version` is the
 * manifest's `config.version`; `undefined` writes no record.
 */
export async function simulateNodes(
  store: Store,
  podId: string,
  nodes: readonly string[],
  options: {
    healthOf: (node: string, version: string) => HealthState | undefined;
    healthyAfterSteps?: number;
    stepMs?: number;
  },
): Promise<{ stop: () => Promise<void> }> {
  const intent = new PodTree(store, 'intent');
  const reality = new PodTree(store, 'reality');
  const health = new HealthStore(store);
  for (const node of nodes) await reality.setPod(node, testManifest('p2-preparer', '1'));
  const since = new Map<string, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        for (const node of nodes) {
          const want = (await intent.getPod(node, podId)).value;
          if (!want) continue;
          const have = (await reality.getPod(node, podId)).value;
          if (!have || Buffer.compare(have.raw, want.raw) !== 0) {
            // The old pod stops (its health goes critical) before reality shows the new one.
            await health.put({ podId, node, status: 'critical', time: new Date() });
            await reality.setPod(node, want.manifest());
            since.set(node, 0);
          }
          const steps = (since.get(node) ?? 0) + 1;
          since.set(node, steps);
          const version = String(want.manifest().config.version ?? '');
          const status =
            steps > (options.healthyAfterSteps ?? 2) ? options.healthOf(node, version) : 'critical';
          if (status) await health.put({ podId, node, status, time: new Date() });
        }
      } catch {
        // the store is shutting down
      }
      await new Promise((r) => setTimeout(r, options.stepMs ?? 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * Simulated preparers answering pre-stage requests (the real one is `@p2/host-agent`'s
 * `Prestager`, tested on a real host): every `stepMs`, each request of `nodes` is answered with
 * `answer(node)` for its SHA; `undefined` leaves it unanswered.
 */
export async function simulatePrestagers(
  store: Store,
  podId: string,
  nodes: readonly string[],
  answer: (node: string) => { state: 'staged' | 'failed'; reason?: string } | undefined,
  stepMs = 50,
): Promise<{ stop: () => Promise<void> }> {
  const prestage = new PrestageStore(store);
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const node of nodes) {
        const raw = (await store.get(`prestage/${node}/${podId}`).catch(() => undefined))?.value;
        const verdict = answer(node);
        if (!raw || !verdict) continue;
        const sha = parseManifest(raw.value).sha();
        await prestage.setReport(node, podId, {
          sha,
          ...verdict,
          updated: new Date().toISOString(),
        });
      }
      await new Promise((r) => setTimeout(r, stepMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
