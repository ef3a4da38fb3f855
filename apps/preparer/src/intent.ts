/**
 * Reading this node's intent (spec 01 §2.2–2.3): legacy pods are `intent/<node>/<pod id>` = manifest
 * bytes; uuid pods are `intent/<node>/<uuid>` = `{"pod_key": uuid}` resolved through `pods/<uuid>`.
 * An entry that cannot be read becomes an `invalid` desired state — reported, never an uninstall.
 */
import { describeError } from '@p2/errors';
import type { KvEntry, Store } from '@p2/kv';
import { type Manifest, parseManifest } from '@p2/manifest';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What one intent key asks of this host. */
export type Desired =
  | { kind: 'run'; manifest: Manifest; uniqueKey: string; key: string }
  | { kind: 'invalid'; podId: string; uniqueKey: string; key: string; error: string }
  | { kind: 'absent'; podId: string; uniqueKey: string };

/** `podId` or `podId/uuid` — one worker per pod instance. */
export function workerKey(podId: string, uniqueKey: string): string {
  return uniqueKey ? `${podId}/${uniqueKey}` : podId;
}

const decoder = new TextDecoder();
const podCache = new Map<string, { manifest: Uint8Array; node: string }>();

async function readPodRecord(
  store: Store,
  uuid: string,
): Promise<{ manifest: Uint8Array; node: string }> {
  const cached = podCache.get(uuid);
  if (cached) return cached;
  const { value: entry } = await store.get(`pods/${uuid}`);
  if (!entry) throw new Error(`pods/${uuid} does not exist`);
  const record = JSON.parse(decoder.decode(entry.value)) as { manifest?: unknown; node?: unknown };
  if (typeof record.manifest !== 'string') throw new Error(`pods/${uuid} has no manifest`);
  const resolved = {
    manifest: new TextEncoder().encode(record.manifest),
    node: String(record.node ?? ''),
  };
  podCache.set(uuid, resolved); // pods/<uuid> is immutable once written (P2 cached it forever too)
  return resolved;
}

/** Turns the entries under `intent/<node>/` into desired states, one per pod. */
export async function readIntent(
  store: Store,
  node: string,
  entries: KvEntry[],
): Promise<Desired[]> {
  const prefix = `intent/${node}/`;
  const desired: Desired[] = [];
  for (const entry of entries) {
    const name = entry.key.slice(prefix.length);
    if (!entry.key.startsWith(prefix) || name === '' || name.includes('/')) continue;
    if (UUID.test(name)) {
      const uniqueKey = name.toLowerCase();
      try {
        const index = JSON.parse(decoder.decode(entry.value)) as { pod_key?: unknown };
        if (index.pod_key !== name)
          throw new Error(`pod_key ${JSON.stringify(index.pod_key)} does not match the key`);
        const record = await readPodRecord(store, uniqueKey);
        const manifest = parseManifest(record.manifest, { source: `pods/${uniqueKey}` });
        desired.push({ kind: 'run', manifest, uniqueKey, key: entry.key });
      } catch (error) {
        desired.push({
          kind: 'invalid',
          podId: name,
          uniqueKey,
          key: entry.key,
          error: describeError(error),
        });
      }
      continue;
    }
    try {
      const manifest = parseManifest(entry.value, { source: entry.key });
      if (manifest.id !== name) {
        throw new Error(
          `the manifest's id is ${JSON.stringify(manifest.id)} but it is stored under ${entry.key}`,
        );
      }
      desired.push({ kind: 'run', manifest, uniqueKey: '', key: entry.key });
    } catch (error) {
      desired.push({
        kind: 'invalid',
        podId: name,
        uniqueKey: '',
        key: entry.key,
        error: describeError(error),
      });
    }
  }
  return desired;
}
