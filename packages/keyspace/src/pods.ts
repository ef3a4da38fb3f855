/**
 * P2's key layout (spec 01 §2, spec 03 §0.1) as typed stores with P2's exact paths and value
 * formats, so existing tools interoperate. Writing is strict (keys, pod ids and uuids are validated);
 * reading is lenient (whatever exists is returned, malformed entries are reported, never thrown).
 */

import { randomUUID } from 'node:crypto';
import { goJson } from '@p2/go';
import {
  assertSegment,
  assertUuid,
  type Indexed,
  type KvEntry,
  KvError,
  KvErrorCodes,
  looksLikeUuid,
  type Store,
  type TxnOp,
  type WatchOptions,
  watchKeys,
  watchPrefix,
} from '@p2/kv';
import { type Manifest, parseManifest } from '@p2/manifest';
import { asObject, bytes, type ReadProblem, text } from './json.js';
import { intentKey, nodePodsPrefix, Prefix, podTreeKey, realityKey, uuidPodKey } from './keys.js';
import { StatusStore } from './status.js';

// ---- intent / reality ------------------------------------------------------------------------

/** The last segments of the keys directly under `prefix`, sorted. */
function idsUnder(prefix: string, keys: readonly string[]): string[] {
  return keys
    .map((key) => key.slice(prefix.length))
    .filter((id) => id !== '' && !id.includes('/'))
    .sort();
}

/** A pod found under `intent/<node>/` or `reality/<node>/`. */
export interface PodRecord {
  node: string;
  /** The pod id (legacy pods) or the uuid (uuid pods, then `uniqueKey` is set too). */
  podId: string;
  /** Set for uuid pods. */
  uniqueKey: string | undefined;
  /** The manifest bytes exactly as stored. */
  raw: Uint8Array;
  modifyIndex: number;
  /** Parses `raw` (lenient, as P2 read it). @throws ManifestError */
  manifest(): Manifest;
}

/** A node's pods plus what could not be read. */
export interface NodePods {
  pods: PodRecord[];
  problems: ReadProblem[];
  index: number;
}

function podRecord(
  node: string,
  podId: string,
  uniqueKey: string | undefined,
  raw: Uint8Array,
  modifyIndex: number,
): PodRecord {
  let parsed: Manifest | undefined;
  return {
    node,
    podId,
    uniqueKey,
    raw,
    modifyIndex,
    manifest: () => {
      parsed ??= parseManifest(raw, { source: `${node}/${podId}` });
      return parsed;
    },
  };
}

/**
 * The intent (`intent/<node>/<pod>`) or reality (`reality/<node>/<pod>`) tree. Legacy pods hold the
 * manifest bytes; uuid pods hold `{"pod_key":"<uuid>"}`, resolved through `pods/<uuid>` (intent) or
 * the pod status record's `manifest` (reality).
 *
 * @example
 * ```ts
 * const intent = new PodTree(store, 'intent');
 * await intent.setPod('node1', parseManifest(yamlBytes));   // PUT intent/node1/<id> = raw bytes
 * const { pods } = await intent.listPods('node1');
 * ```
 */
export class PodTree {
  constructor(
    private readonly store: Store,
    readonly tree: 'intent' | 'reality',
  ) {}

  /** `intent/<node>/<podId>` @throws KvError `P2_KV_INVALID_KEY` */
  key(node: string, podId: string): string {
    assertSegment('node name', node);
    assertSegment('pod id', podId);
    return podTreeKey(this.tree, node, podId);
  }

  private checkLegacyId(podId: string): void {
    if (looksLikeUuid(podId)) {
      throw new KvError(
        KvErrorCodes.INVALID_KEY,
        `pod id ${JSON.stringify(podId)} looks like a UUID; P2 readers would take it for a uuid-pod index`,
        { hint: 'rename the pod, or schedule it as a uuid pod', details: { podId } },
      );
    }
  }

  /** Writes a legacy pod: the manifest's raw bytes, verbatim, at `<tree>/<node>/<manifest.id>`. */
  async setPod(node: string, manifest: Manifest): Promise<void> {
    this.checkLegacyId(manifest.id);
    await this.store.put(this.key(node, manifest.id), manifest.raw);
  }

  /** The same write as a transaction op. */
  setPodOp(node: string, manifest: Manifest): TxnOp {
    this.checkLegacyId(manifest.id);
    return { verb: 'set', key: this.key(node, manifest.id), value: manifest.raw };
  }

  /** Deletes `<tree>/<node>/<podId>` (a missing key is fine). */
  async deletePod(node: string, podId: string): Promise<void> {
    await this.store.delete(this.key(node, podId));
  }

  /** One legacy pod's stored bytes, with the index to CAS against ("mutate pod"). */
  async getPod(node: string, podId: string): Promise<Indexed<PodRecord | undefined>> {
    const { value: entry, index } = await this.store.get(this.key(node, podId));
    return {
      value: entry ? podRecord(node, podId, undefined, entry.value, entry.modifyIndex) : undefined,
      index,
    };
  }

  /** CAS-writes a pod at the index of a previous `getPod` (0 = only if absent). */
  casPodOp(node: string, manifest: Manifest, index: number): TxnOp {
    this.checkLegacyId(manifest.id);
    return { verb: 'cas', key: this.key(node, manifest.id), value: manifest.raw, index };
  }

  /** Every pod of a node (trailing slash: `web1` does not see `web10`, unlike P2's watch). */
  async listPods(node: string): Promise<NodePods> {
    assertSegment('node name', node);
    const { value: entries, index } = await this.store.list(nodePodsPrefix(this.tree, node));
    return { ...(await this.resolve(entries)), index };
  }

  /** Watches a node's pods; yields the full set on every change. */
  async *watchNode(
    node: string,
    options: WatchOptions = {},
  ): AsyncGenerator<NodePods, void, undefined> {
    assertSegment('node name', node);
    for await (const { value: entries, index } of watchPrefix(
      this.store,
      nodePodsPrefix(this.tree, node),
      options,
    )) {
      yield { ...(await this.resolve(entries)), index };
    }
  }

  /**
   * The ids under `<tree>/<node>/` — pod ids of legacy pods, uuids of uuid pods — on every change,
   * without reading the values (the preparer notices a pod's reality vanish with it).
   */
  async *watchNodeIds(
    node: string,
    options: WatchOptions = {},
  ): AsyncGenerator<{ ids: string[]; index: number }, void, undefined> {
    assertSegment('node name', node);
    const prefix = nodePodsPrefix(this.tree, node);
    for await (const { value: keys, index } of watchKeys(this.store, prefix, options))
      yield { ids: idsUnder(prefix, keys), index };
  }

  /** The ids under `<tree>/<node>/` (pod ids and uuids), sorted, without reading the values. */
  async nodeIds(node: string): Promise<string[]> {
    assertSegment('node name', node);
    const prefix = nodePodsPrefix(this.tree, node);
    return idsUnder(prefix, (await this.store.keys(prefix)).value);
  }

  /**
   * Deletes every pod of a node (`<tree>/<node>/*`) key by key, so an entry written after the
   * listing (a preparer recording a pod again) is kept. P2's p2-wipe-reality on `reality`.
   * @returns the ids deleted (pod ids and uuids), sorted
   */
  async deleteNode(node: string): Promise<string[]> {
    const ids = await this.nodeIds(node);
    for (const id of ids) await this.store.delete(podTreeKey(this.tree, node, id));
    return ids;
  }

  /** Every pod on every node. */
  async listAll(): Promise<NodePods> {
    const { value: entries, index } = await this.store.list(Prefix[this.tree]);
    return { ...(await this.resolve(entries)), index };
  }

  private async resolve(entries: KvEntry[]): Promise<Omit<NodePods, 'index'>> {
    const pods: PodRecord[] = [];
    const problems: ReadProblem[] = [];
    const uuids = new UuidPodStore(this.store);
    const status = new StatusStore(this.store);
    for (const entry of entries) {
      const parts = entry.key.split('/');
      if (parts.length !== 3 || !parts[1] || !parts[2]) {
        problems.push({
          key: entry.key,
          error: new KvError(
            KvErrorCodes.BAD_RECORD,
            `${entry.key}: expected ${this.tree}/<node>/<pod id>`,
            {
              details: { key: entry.key },
            },
          ),
        });
        continue;
      }
      const [, node, last] = parts as [string, string, string];
      if (!looksLikeUuid(last)) {
        pods.push(podRecord(node, last, undefined, entry.value, entry.modifyIndex));
        continue;
      }
      try {
        const podKey = String(asObject(entry).pod_key ?? last);
        let raw: Uint8Array | undefined;
        if (this.tree === 'intent') raw = (await uuids.readPod(podKey))?.manifest;
        else {
          const record = (await status.get('pods', podKey, 'preparer')).value;
          raw = typeof record?.manifest === 'string' ? bytes(record.manifest) : undefined;
        }
        if (!raw)
          throw new KvError(
            KvErrorCodes.BAD_RECORD,
            `${entry.key}: uuid pod ${podKey} has no manifest`,
          );
        pods.push(podRecord(node, podKey, podKey, raw, entry.modifyIndex));
      } catch (error) {
        problems.push({
          key: entry.key,
          error:
            error instanceof KvError
              ? error
              : new KvError(KvErrorCodes.BAD_RECORD, `${entry.key}: ${String(error)}`, {
                  cause: error,
                }),
        });
      }
    }
    return { pods, problems };
  }
}

/** `pods/<uuid>` = `{"manifest":"<raw>","node":"<node>"}` plus the intent index (spec 01 §2.3). */
export class UuidPodStore {
  constructor(private readonly store: Store) {}

  /**
   * Schedules a uuid pod: PUT `pods/<uuid>`, then PUT `intent/<node>/<uuid>` = `{"pod_key":"<uuid>"}`.
   * If the second write fails the first is deleted (best effort), as P2 did.
   */
  async schedule(node: string, manifest: Manifest): Promise<string> {
    assertSegment('node name', node);
    const uuid = randomUUID();
    await this.store.put(uuidPodKey(uuid), goJson({ manifest: text(manifest.raw), node }));
    try {
      await this.store.put(intentKey(node, uuid), goJson({ pod_key: uuid }));
    } catch (error) {
      await this.store.delete(uuidPodKey(uuid)).catch(() => undefined);
      throw error;
    }
    return uuid;
  }

  /** Reads `pods/<uuid>`; `undefined` when absent. @throws KvError `P2_KV_BAD_RECORD` */
  async readPod(uuid: string): Promise<{ manifest: Uint8Array; node: string } | undefined> {
    const { value: entry } = await this.store.get(uuidPodKey(uuid));
    if (!entry) return undefined;
    const record = asObject(entry);
    if (typeof record.manifest !== 'string' || typeof record.node !== 'string') {
      throw new KvError(
        KvErrorCodes.BAD_RECORD,
        `${entry.key} must hold {"manifest": string, "node": string}`,
        {
          details: { key: entry.key },
        },
      );
    }
    return { manifest: bytes(record.manifest), node: record.node };
  }

  /** Deletes `pods/<uuid>` then its intent index. */
  async unschedule(uuid: string): Promise<void> {
    assertUuid('pod unique key', uuid);
    const pod = await this.readPod(uuid);
    if (!pod) return;
    await this.store.delete(uuidPodKey(uuid));
    try {
      await this.store.delete(intentKey(pod.node, uuid));
    } catch (error) {
      throw new KvError(
        KvErrorCodes.UNAVAILABLE,
        `pod ${uuid} was deleted but its intent index was not`,
        {
          cause: error,
          hint: `delete ${intentKey(pod.node, uuid)} by hand`,
        },
      );
    }
  }

  /** The reality-index op the preparer commits with the pod status after launch. */
  realityIndexOp(node: string, uuid: string): TxnOp {
    assertSegment('node name', node);
    assertUuid('pod unique key', uuid);
    return { verb: 'set', key: realityKey(node, uuid), value: goJson({ pod_key: uuid }) };
  }
}
