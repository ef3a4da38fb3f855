/** Test helpers: a real `@p2/kv-server` on loopback and a `@p2/kv` store talking to it over HTTP. @internal */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  encodeHealthRecord,
  healthKey,
  Prefix,
  parsePodTreeKey,
  podHealthPrefix,
  realityKey,
} from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { startTestStore as startKvTestStore, type TestStore } from '../../kv/src/test-support.js';

export type { TestStore };

export function startTestStore(): Promise<TestStore> {
  return startKvTestStore('rc');
}

/** A manifest text for tests (a version string changes its SHA). */
export function manifestText(podId: string, version = '1', extra = ''): string {
  return `id: ${podId}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/${podId}_${version}.tar.gz\n${extra}`;
}

/** Reads a key as text (undefined when absent). */
export async function text(store: Store, key: string): Promise<string | undefined> {
  const e = (await store.get(key)).value;
  return e ? new TextDecoder().decode(e.value) : undefined;
}

/** Node names that have intent for a pod id. */
export async function intentNodes(store: Store, podId: string): Promise<string[]> {
  const keys = (await store.keys(Prefix.intent)).value;
  return keys
    .map((k) => parsePodTreeKey(k))
    .filter((p) => p?.podId === podId)
    .map((p) => p!.node)
    .sort();
}

/** Polls `fn` until it returns true (bounded). */
export async function eventually(
  fn: () => Promise<boolean>,
  timeoutMs = 15_000,
  stepMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/**
 * Simulated preparers for tests: for each node, copy intent to reality (as a preparer does after a
 * launch), delete reality and health when intent goes, and write a health record chosen by
 * `healthOf(manifest text)` — real records in the real store, as P2's preparers write them.
 */
export function simulatePreparers(
  store: Store,
  options: {
    healthOf: (manifest: string) => 'passing' | 'critical' | 'warning' | 'unknown';
    intervalMs?: number;
  },
): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const intents = new Map<string, string>();
        for (const e of (await store.list(Prefix.intent)).value) {
          const k = parsePodTreeKey(e.key);
          if (k) intents.set(`${k.node}/${k.podId}`, new TextDecoder().decode(e.value));
        }
        const realities = new Map<string, string>();
        for (const e of (await store.list(Prefix.reality)).value) {
          const k = parsePodTreeKey(e.key);
          if (k) realities.set(`${k.node}/${k.podId}`, new TextDecoder().decode(e.value));
        }
        for (const [nodePod, manifest] of intents) {
          if (realities.get(nodePod) === manifest) continue;
          const [node, pod] = nodePod.split('/') as [string, string];
          await store.put(realityKey(node, pod), manifest);
          await store.put(
            healthKey(pod, node),
            encodeHealthRecord({
              podId: pod,
              node,
              status: options.healthOf(manifest),
              time: new Date(),
            }),
          );
        }
        for (const nodePod of realities.keys()) {
          if (intents.has(nodePod)) continue;
          const [node, pod] = nodePod.split('/') as [string, string];
          await store.delete(realityKey(node, pod));
          await store.delete(healthKey(pod, node));
        }
      } catch {
        // the store is shutting down
      }
      await sleep(options.intervalMs ?? 50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** How many nodes run `podId` in reality and report it passing. */
export async function passingCount(store: Store, podId: string): Promise<number> {
  const entries = (await store.list(podHealthPrefix(podId))).value;
  return entries.filter((e) => new TextDecoder().decode(e.value).includes('"Status":"passing"'))
    .length;
}
