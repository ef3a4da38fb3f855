/**
 * Pod clusters (spec 03 §4.5, spec 01 §2.5): `pod_clusters/<uuid>` records in P2's JSON, P2's
 * uniqueness rule (one cluster per pod id + availability zone + cluster name, found through the
 * cluster's own labels), and the membership watch a load-balancer syncer consumes.
 */
import { randomUUID } from 'node:crypto';
import { goJson } from '@p2/go';
import {
  assertSegment,
  assertUuid,
  type KvEntry,
  KvError,
  KvErrorCodes,
  type Store,
  type WatchOptions,
  watchKey,
  watchPrefix,
} from '@p2/kv';
import { type LabelSet, Selector } from '@p2/labels';
import { idFromKey, lockKeys, Prefix, podClusterKey } from './keys.js';
import { LabelStore } from './label-store.js';
import { decodeLabels, labelTypePrefix } from './labels.js';
import { int, parseObject, recordError, selectorField, str } from './records.js';

/** The labels P2 puts on a pod cluster and on its pods (the default selector's keys). */
const POD_CLUSTER_LABELS = {
  podId: 'pod_id',
  availabilityZone: 'availability_zone',
  clusterName: 'cluster_name',
} as const;

/** A pod cluster as stored at `pod_clusters/<id>`. */
export interface PodClusterRecord {
  readonly id: string;
  readonly podId: string;
  readonly availabilityZone: string;
  /** The cluster name (`name` in P2's JSON, `cluster_name` in its labels). */
  readonly name: string;
  /** Selects the member pods among `labels/pod/*`. */
  readonly podSelector: Selector;
  /** Free JSON for the syncers (a load balancer's settings…). */
  readonly annotations: Readonly<Record<string, unknown>>;
  /** Stored as given; P2 knew `static_strategy` and `dynamic_strategy`. */
  readonly allocationStrategy: string;
  /** Stored, unused (as in P2's open-source code). */
  readonly minHealthPercentage: number;
}

/** Go's `encoding/json` of a decoded JSON value: map keys in byte order at every depth. */
function goJsonDeep(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(goJsonDeep).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${goJson(k)}:${goJsonDeep((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return goJson(value ?? null);
}

/**
 * The JSON P2 stores for a pod cluster, byte for byte: P2's field order, Go escaping, annotation
 * keys sorted at every depth.
 *
 * @example encodePodCluster(pc) // '{"id":"…","pod_id":"web","availability_zone":"az1","name":"blue","pod_selector":"availability_zone=az1,cluster_name=blue,pod_id=web","annotations":{},"allocation_strategy":"static_strategy","min_health_percentage":0}'
 */
export function encodePodCluster(pc: PodClusterRecord): string {
  const head = goJson({
    id: pc.id,
    pod_id: pc.podId,
    availability_zone: pc.availabilityZone,
    name: pc.name,
    pod_selector: pc.podSelector.toString(),
  });
  const tail = goJson({
    allocation_strategy: pc.allocationStrategy,
    min_health_percentage: pc.minHealthPercentage,
  });
  return `${head.slice(0, -1)},"annotations":${goJsonDeep(pc.annotations)},${tail.slice(1)}`;
}

/**
 * Reads a pod cluster record (`null` annotations read as `{}`).
 *
 * @throws KvError `P2_KV_BAD_RECORD` naming the key and the field
 */
export function decodePodCluster(
  value: string | Uint8Array,
  key = 'pod cluster',
): PodClusterRecord {
  const obj = parseObject(value, key);
  const annotations = obj.annotations ?? {};
  if (typeof annotations !== 'object' || Array.isArray(annotations)) {
    throw recordError(key, '"annotations" must be an object');
  }
  return {
    id: str(obj, 'id', key, true),
    podId: str(obj, 'pod_id', key),
    availabilityZone: str(obj, 'availability_zone', key),
    name: str(obj, 'name', key),
    podSelector: selectorField(obj, 'pod_selector', key),
    annotations: annotations as Record<string, unknown>,
    allocationStrategy: str(obj, 'allocation_strategy', key),
    minHealthPercentage: int(obj, 'min_health_percentage', key),
  };
}

/**
 * P2's default pod selector for a cluster: its pod id, az and cluster name.
 *
 * @example defaultPodSelector('web', 'az1', 'blue').toString() // 'availability_zone=az1,cluster_name=blue,pod_id=web'
 */
export function defaultPodSelector(podId: string, az: string, name: string): Selector {
  return Selector.fromSet(clusterLabels(podId, az, name));
}

function clusterLabels(podId: string, az: string, name: string): LabelSet {
  return {
    [POD_CLUSTER_LABELS.podId]: podId,
    [POD_CLUSTER_LABELS.availabilityZone]: az,
    [POD_CLUSTER_LABELS.clusterName]: name,
  };
}

/** What {@link PodClusterStore.create} needs. */
export interface CreatePodCluster {
  readonly podId: string;
  readonly availabilityZone: string;
  readonly name: string;
  /** @default {@link defaultPodSelector} of the three */
  readonly podSelector?: Selector | string;
  /** @default {} */
  readonly annotations?: Readonly<Record<string, unknown>>;
  /** @default 'static_strategy' */
  readonly allocationStrategy?: string;
  /** @default 0 */
  readonly minHealthPercentage?: number;
  /** Names the creation lock's session `pcctl-<user>`, as P2. */
  readonly user?: string;
}

/** The fields {@link PodClusterStore.update} may change (identity never changes). */
export type PodClusterChange = Partial<
  Pick<
    PodClusterRecord,
    'podSelector' | 'annotations' | 'allocationStrategy' | 'minHealthPercentage'
  >
>;

/** One member pod of a cluster: a `labels/pod/<node>/<pod-id>` record its selector matches. */
export interface PodClusterMember {
  /** The pod label id: `<node>/<pod-id>` (or a uuid). */
  readonly id: string;
  readonly labels: LabelSet;
}

/** One answer of {@link PodClusterStore.watchMembers}. */
export interface PodClusterMembership {
  readonly clusterId: string;
  /** `undefined` once the cluster is deleted (the watch then ends). */
  readonly cluster: PodClusterRecord | undefined;
  /** Member pods sorted by id. */
  readonly members: readonly PodClusterMember[];
}

/**
 * Pod clusters on any `@p2/kv` store, as P2's pcstore kept them: records at `pod_clusters/<uuid>`,
 * labelled `pod_id`, `availability_zone`, `cluster_name` at `labels/pod_clusters/<uuid>` so that
 * the triple is unique; changes are read-CAS.
 *
 * @example
 * ```ts
 * const pcs = new PodClusterStore(store);
 * const pc = await pcs.create({ podId: 'web', availabilityZone: 'az1', name: 'blue' });
 * for await (const m of pcs.watchMembers(pc.id, { signal })) console.log(m.members.map((p) => p.id));
 * ```
 */
export class PodClusterStore {
  readonly #labels: LabelStore;

  constructor(private readonly store: Store) {
    this.#labels = new LabelStore(store);
  }

  /**
   * Creates a cluster under the lock `lock/<pod>/<az>/<name>`, refusing a second one with the same
   * triple, then labels it (a labelling failure deletes the record again, as P2).
   *
   * @throws KvError `P2_KV_ALREADY_EXISTS`, `P2_KV_LOCK_HELD`, `P2_KV_INVALID_KEY`; LabelsError for a bad selector or label value
   */
  async create(request: CreatePodCluster): Promise<PodClusterRecord> {
    const { podId, availabilityZone: az, name } = request;
    assertSegment('pod id', podId);
    assertSegment('availability zone', az);
    assertSegment('cluster name', name);
    const selector =
      typeof request.podSelector === 'string'
        ? Selector.parse(request.podSelector)
        : (request.podSelector ?? defaultPodSelector(podId, az, name));
    const pc: PodClusterRecord = {
      id: randomUUID(),
      podId,
      availabilityZone: az,
      name,
      podSelector: selector,
      annotations: request.annotations ?? {},
      allocationStrategy: request.allocationStrategy ?? 'static_strategy',
      minHealthPercentage: request.minHealthPercentage ?? 0,
    };
    const session = await this.store.createSession({
      name: `pcctl-${request.user ?? ''}`,
      ttlMs: 15_000,
      lockDelayMs: 1,
      behavior: 'delete',
    });
    try {
      const lock = lockKeys.podClusterCreation(podId, az, name);
      if (!(await this.store.acquire(lock, '', session))) {
        throw new KvError(KvErrorCodes.LOCK_HELD, `${lock} is held: another creation is running`, {
          details: { key: lock },
          hint: 'retry in a moment',
        });
      }
      const existing = await this.find(podId, az, name);
      if (existing) {
        throw new KvError(
          KvErrorCodes.ALREADY_EXISTS,
          `a pod cluster for pod ${podId}, az ${az}, cluster ${name} already exists: ${existing.id}`,
          { details: { id: existing.id }, hint: `update it with p2 pc update ${existing.id}` },
        );
      }
      if (!(await this.store.cas(podClusterKey(pc.id), encodePodCluster(pc), 0))) {
        throw new KvError(KvErrorCodes.CAS_FAILED, `${podClusterKey(pc.id)} already exists`);
      }
      try {
        await this.#labels.setLabels('pod_clusters', pc.id, clusterLabels(podId, az, name));
      } catch (error) {
        await this.store.delete(podClusterKey(pc.id));
        throw error;
      }
      return pc;
    } finally {
      await this.store.destroySession(session);
    }
  }

  /** One cluster. @throws KvError `P2_KV_NOT_FOUND`, `P2_KV_BAD_RECORD`, `P2_KV_INVALID_KEY` */
  async get(id: string): Promise<PodClusterRecord> {
    return (await this.#read(id)).pc;
  }

  /** Every cluster, sorted by id; unreadable records are skipped. */
  async list(): Promise<PodClusterRecord[]> {
    const { value: entries } = await this.store.list(Prefix.podClusters);
    const out: PodClusterRecord[] = [];
    for (const e of entries) {
      if (idFromKey(Prefix.podClusters, e.key) === undefined) continue;
      try {
        out.push(decodePodCluster(e.value, e.key));
      } catch {
        // One unreadable record must not hide the others (as every p2 listing).
      }
    }
    return out;
  }

  /** The cluster with this pod id, az and name (by its labels, as P2), or `undefined`. */
  async find(podId: string, az: string, name: string): Promise<PodClusterRecord | undefined> {
    const ids = await this.#labels.selectIds('pod_clusters', defaultPodSelector(podId, az, name));
    for (const id of ids) {
      try {
        return await this.get(id);
      } catch (error) {
        if (!(error instanceof KvError && error.code === KvErrorCodes.NOT_FOUND)) throw error;
      }
    }
    return undefined;
  }

  /**
   * Changes a cluster's selector, annotations, strategy or min health with read-CAS (retried).
   *
   * @throws KvError `P2_KV_NOT_FOUND`, `P2_KV_CAS_FAILED` (kept losing races)
   */
  async update(id: string, change: PodClusterChange): Promise<PodClusterRecord> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { pc, index } = await this.#read(id);
      const next: PodClusterRecord = { ...pc, ...change };
      if (await this.store.cas(podClusterKey(id), encodePodCluster(next), index)) return next;
    }
    throw new KvError(KvErrorCodes.CAS_FAILED, `pod cluster ${id} kept changing while updating`);
  }

  /** Deletes a cluster and its labels. @throws KvError `P2_KV_NOT_FOUND` */
  async delete(id: string): Promise<void> {
    await this.#read(id);
    await this.store.delete(podClusterKey(id));
    await this.#labels.removeAll('pod_clusters', id);
  }

  /**
   * The cluster and its member pods (pod label records matched by its selector), yielded first and
   * again whenever the member set or the cluster record changes; after the cluster is deleted one
   * last answer with `cluster: undefined` and no members, then the watch ends.
   *
   * @throws KvError `P2_KV_NOT_FOUND` when the cluster does not exist when the watch starts
   */
  async *watchMembers(
    id: string,
    options: WatchOptions = {},
  ): AsyncGenerator<PodClusterMembership, void, undefined> {
    assertUuid('pod cluster id', id);
    const controller = new AbortController();
    const stop = () => controller.abort();
    if (options.signal?.aborted) return;
    options.signal?.addEventListener('abort', stop, { once: true });
    const watchOptions = { ...options, signal: controller.signal };
    let record: KvEntry | undefined | null = null; // null: not read yet
    let pods: KvEntry[] | null = null;
    let failure: unknown;
    let wake = () => {};
    let changed = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const notify = () => {
      const w = wake;
      changed = new Promise<void>((resolve) => {
        wake = resolve;
      });
      w();
    };
    const pump = async <T>(it: AsyncIterable<{ value: T }>, set: (v: T) => void) => {
      try {
        for await (const { value } of it) {
          set(value);
          notify();
        }
      } catch (error) {
        failure ??= error;
        notify();
      }
    };
    const pumps = [
      pump(watchKey(this.store, podClusterKey(id), watchOptions), (v) => {
        record = v;
      }),
      pump(watchPrefix(this.store, labelTypePrefix('pod'), watchOptions), (v) => {
        pods = v;
      }),
    ];
    let last: string | undefined;
    const aborted = abortPromise(controller.signal);
    try {
      while (!controller.signal.aborted) {
        const next = changed;
        if (failure !== undefined) throw failure;
        if (record !== null && pods !== null) {
          const entry = record as KvEntry | undefined;
          if (entry === undefined && last === undefined) {
            throw new KvError(KvErrorCodes.NOT_FOUND, `pod cluster ${id} does not exist`, {
              details: { id },
            });
          }
          const cluster = entry && decodePodCluster(entry.value, entry.key);
          const members = cluster ? membersOf(cluster.podSelector, pods) : [];
          const key = `${cluster ? encodePodCluster(cluster) : ''}\n${members.map((m) => m.id).join('\n')}`;
          if (key !== last) {
            last = key;
            yield { clusterId: id, cluster, members };
          }
          if (!cluster) return;
        }
        await Promise.race([next, aborted]);
      }
    } finally {
      options.signal?.removeEventListener('abort', stop);
      controller.abort();
      await Promise.all(pumps);
    }
  }

  async #read(id: string): Promise<{ pc: PodClusterRecord; index: number }> {
    assertUuid('pod cluster id', id);
    const key = podClusterKey(id);
    const entry = (await this.store.get(key)).value;
    if (!entry) {
      throw new KvError(KvErrorCodes.NOT_FOUND, `pod cluster ${id} does not exist`, {
        details: { id },
        hint: 'list them with p2 pc list',
      });
    }
    return { pc: decodePodCluster(entry.value, key), index: entry.modifyIndex };
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function membersOf(selector: Selector, entries: readonly KvEntry[]): PodClusterMember[] {
  const prefix = labelTypePrefix('pod');
  const out: PodClusterMember[] = [];
  for (const e of entries) {
    const id = e.key.slice(prefix.length);
    if (id === '') continue;
    let labels: LabelSet;
    try {
      labels = decodeLabels(e.value, e.key);
    } catch {
      continue; // an unreadable label record is no member (LabelStore.list skips it too)
    }
    if (selector.matches(labels)) out.push({ id, labels });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
