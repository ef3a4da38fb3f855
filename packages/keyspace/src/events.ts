/**
 * What happened to a pod on a node (p2 extensions, written by the preparer):
 *
 * - `events/<node>/<pod>`: the pod's last {@link EVENTS_PER_POD} events (deploy steps with their
 *   times, failures, refusals, exits, restarts, health transitions, hook failures) as one JSON array;
 * - `history/<node>/<pod>`: the last {@link REVISIONS_PER_POD} manifests deployed there, each with
 *   its revision number, time, SHA and exact text — what `p2 history` lists and `p2 rollback`
 *   writes back to intent.
 *
 * Each is one key per pod per node, rewritten with a CAS (a few retries on a conflicting write):
 * one write per batch of events (a deploy's events are one batch) and one per deployed version —
 * or, through `appendOp` / `recordOp`, one operation each in a caller's transaction.
 * Both are bounded, oldest first out. The pod key is the pod id (legacy pods) or uuid.
 */
import { assertSegment, KvError, KvErrorCodes, type Store, type TxnOp } from '@p2/kv';
import { type Manifest, parseManifest } from '@p2/manifest';
import { parseJsonValue } from './json.js';
import { podEventsKey, podHistoryKey } from './keys.js';
import { PodTree } from './pods.js';

/** Events kept per pod per node. */
export const EVENTS_PER_POD = 50;
/** Deployed manifests kept per pod per node. */
export const REVISIONS_PER_POD = 10;
/** A history value is trimmed (oldest first, the newest always kept) to stay below this size. */
const MAX_HISTORY_BYTES = 256 * 1024;
const CAS_ATTEMPTS = 5;

/** What kind of thing happened. */
export type PodEventType =
  | 'deploying'
  | 'deployed'
  | 'deploy-failed'
  | 'reverted'
  | 'unauthorized'
  | 'invalid'
  | 'removed'
  | 'exit'
  | 'restart'
  | 'health'
  | 'hook';

/** One event of a pod on a node. */
export interface PodEvent {
  /** ISO 8601. */
  time: string;
  type: PodEventType;
  sha?: string;
  message?: string;
  code?: string;
  /** Deploy step durations in ms (`deployed`, `deploy-failed`). */
  steps?: Record<string, number>;
  totalMs?: number;
  attempt?: number;
  service?: string;
  launchable?: string;
  exitCode?: number | null;
  signal?: number | null;
  /** Health transitions: the state before and after; restarts: the new pid. */
  from?: string;
  to?: string;
  pid?: number;
  /**
   * The deploy this event belongs to (`deployed`, `deploy-failed`, `reverted`, `health`): the
   * manifest's SHA, the same on every host a version goes to, so one version's deploy across the
   * fleet is one trace (`p2 trace`).
   */
  deployId?: string;
  /** The deploy's steps on this host, each with its start and duration (see {@link DeploySpan}). */
  spans?: DeploySpan[];
}

/** One step of a deploy on one host (`authorize`, `download`, `install`, `launch`, `healthy`…). */
export interface DeploySpan {
  name: string;
  /** When it started (ISO 8601, ms precision). */
  start: string;
  ms: number;
  /** The step it is part of (`download` is part of `install`). */
  parent?: string;
  /** Set when the step failed. */
  failed?: boolean;
}

/** One deployed manifest of a pod's history. */
export interface PodRevision {
  /** 1, 2, 3… per pod per node; numbers are never reused while the history exists. */
  rev: number;
  /** When it was deployed (ISO 8601). */
  time: string;
  sha: string;
  /** The manifest exactly as it was in intent (a clearsigned one with its signature). */
  manifest: string;
}

function parseArray(value: string | Uint8Array, key: string, what: string): unknown[] {
  const parsed = parseJsonValue(value, key);
  if (!Array.isArray(parsed))
    throw new KvError(KvErrorCodes.BAD_RECORD, `${key}: not ${what}`, { details: { key } });
  return parsed;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * Reads an events value: a JSON array; entries without a string `time` and `type` are skipped.
 * @throws KvError `P2_KV_BAD_RECORD` when it is not a JSON array
 */
export function decodePodEvents(value: string | Uint8Array, key = 'pod events'): PodEvent[] {
  return parseArray(value, key, 'an event list').filter(
    (e): e is PodEvent => isObject(e) && typeof e.time === 'string' && typeof e.type === 'string',
  );
}

/**
 * Reads a history value: a JSON array; entries without a numeric `rev` and string `manifest` are
 * skipped. @throws KvError `P2_KV_BAD_RECORD` when it is not a JSON array
 */
export function decodePodHistory(value: string | Uint8Array, key = 'pod history'): PodRevision[] {
  return parseArray(value, key, 'a revision list').filter(
    (r): r is PodRevision =>
      isObject(r) &&
      typeof r.rev === 'number' &&
      typeof r.manifest === 'string' &&
      typeof r.sha === 'string',
  );
}

function checkedKey(key: (node: string, pod: string) => string, node: string, pod: string) {
  assertSegment('node name', node);
  assertSegment('pod id', pod);
  return key(node, pod);
}

/**
 * What a writer knows a key holds: the value it last wrote or read there, and that write's (or
 * read's) modify index. A CAS built on it fails if anyone wrote the key since, so it is safe to
 * keep; only a failed CAS costs a read.
 */
export interface KnownEntry {
  value: Uint8Array;
  modifyIndex: number;
}

/**
 * The CAS that appends to the list at `key` (read now, or as `known` says it is), or undefined
 * when `next` changes nothing. Committed alone or in a transaction with other writes; it fails when
 * the key changed since.
 */
async function appendOp<T>(
  store: Store,
  key: string,
  decode: (value: Uint8Array) => T[],
  next: (current: T[]) => T[] | undefined,
  known?: KnownEntry,
): Promise<(TxnOp & { verb: 'cas' }) | undefined> {
  const entry = known ?? (await store.get(key)).value;
  let current: T[] = [];
  try {
    current = entry ? decode(entry.value) : [];
  } catch {
    current = []; // an unreadable value is replaced, not kept forever
  }
  const updated = next(current);
  if (!updated) return undefined;
  return { verb: 'cas', key, value: JSON.stringify(updated), index: entry?.modifyIndex ?? 0 };
}

/** Appends to the list at `key` with a CAS, retrying on a conflicting write; false when it gave up. */
async function appendCas<T>(
  store: Store,
  key: string,
  decode: (value: Uint8Array) => T[],
  next: (current: T[]) => T[] | undefined,
): Promise<boolean> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const op = await appendOp(store, key, decode, next);
    if (!op) return true;
    if (await store.cas(key, op.value, op.index)) return true;
  }
  return false;
}

const appendEvents =
  (events: readonly PodEvent[]) =>
  (current: PodEvent[]): PodEvent[] =>
    [...current, ...events].slice(-EVENTS_PER_POD);

const nextRevision =
  (deployed: { sha: string; manifest: string; time?: string }) =>
  (current: PodRevision[]): PodRevision[] | undefined => {
    const last = current.at(-1);
    if (last?.sha === deployed.sha && last.manifest === deployed.manifest) return undefined;
    const revision: PodRevision = {
      rev: (last?.rev ?? 0) + 1,
      time: deployed.time ?? new Date().toISOString(),
      sha: deployed.sha,
      manifest: deployed.manifest,
    };
    const kept = [...current, revision].slice(-REVISIONS_PER_POD);
    while (kept.length > 1 && JSON.stringify(kept).length > MAX_HISTORY_BYTES) kept.shift();
    return kept;
  };

/** The preparer's per-pod event rings (`events/<node>/<pod>`). */
export class PodEventStore {
  constructor(private readonly store: Store) {}

  key(node: string, pod: string): string {
    return checkedKey(podEventsKey, node, pod);
  }

  /**
   * Appends events (one CAS write), keeping the last {@link EVENTS_PER_POD}.
   * @returns false when concurrent writes kept conflicting (the events were not recorded)
   */
  async append(node: string, pod: string, events: readonly PodEvent[]): Promise<boolean> {
    if (events.length === 0) return true;
    const key = this.key(node, pod);
    return appendCas(this.store, key, (v) => decodePodEvents(v, key), appendEvents(events));
  }

  /**
   * The CAS operation that appends `events` (the ring read now, or as `known` says it is), for a
   * transaction with other writes (the preparer commits a deploy's events with its status).
   * Undefined when there are none.
   */
  async appendOp(
    node: string,
    pod: string,
    events: readonly PodEvent[],
    known?: KnownEntry,
  ): Promise<(TxnOp & { verb: 'cas' }) | undefined> {
    if (events.length === 0) return undefined;
    const key = this.key(node, pod);
    return appendOp(this.store, key, (v) => decodePodEvents(v, key), appendEvents(events), known);
  }

  /** The pod's events on the node, oldest first ([] when none). */
  async list(node: string, pod: string): Promise<PodEvent[]> {
    const key = this.key(node, pod);
    const { value } = await this.store.get(key);
    return value ? decodePodEvents(value.value, key) : [];
  }

  /** Deletes the pod's events on the node. */
  async delete(node: string, pod: string): Promise<void> {
    await this.store.delete(this.key(node, pod));
  }
}

/** The manifests deployed per pod per node (`history/<node>/<pod>`). */
export class PodHistoryStore {
  constructor(private readonly store: Store) {}

  key(node: string, pod: string): string {
    return checkedKey(podHistoryKey, node, pod);
  }

  /**
   * Records a deployed manifest as the next revision, unless it is the latest one already (same
   * SHA and text). Keeps the last {@link REVISIONS_PER_POD}, and fewer if they would exceed 256 KiB.
   * @returns false when concurrent writes kept conflicting
   */
  async record(
    node: string,
    pod: string,
    deployed: { sha: string; manifest: string; time?: string },
  ): Promise<boolean> {
    const key = this.key(node, pod);
    return appendCas(this.store, key, (v) => decodePodHistory(v, key), nextRevision(deployed));
  }

  /**
   * The CAS operation that records `deployed` (the history read now, or as `known` says it is),
   * for a transaction with other writes; undefined when it is the latest revision already.
   */
  async recordOp(
    node: string,
    pod: string,
    deployed: { sha: string; manifest: string; time?: string },
    known?: KnownEntry,
  ): Promise<(TxnOp & { verb: 'cas' }) | undefined> {
    const key = this.key(node, pod);
    return appendOp(
      this.store,
      key,
      (v) => decodePodHistory(v, key),
      nextRevision(deployed),
      known,
    );
  }

  /** The pod's revisions on the node, oldest first ([] when none). */
  async list(node: string, pod: string): Promise<PodRevision[]> {
    const key = this.key(node, pod);
    const { value } = await this.store.get(key);
    return value ? decodePodHistory(value.value, key) : [];
  }

  /**
   * Writes a kept revision of a legacy pod back to `intent/<node>/<pod>`, byte for byte (a signed
   * manifest stays signed: nothing is re-signed). Without `to`, the newest revision that differs
   * from what intent holds now ({@link rollbackTarget}).
   *
   * @returns the revision written and its manifest
   * @throws KvError `P2_KV_NOT_FOUND` when no such revision is kept (hint: `p2 history`);
   *   `P2_KV_INVALID_KEY` for a uuid pod (roll those back with `p2 schedule`)
   */
  async rollback(
    node: string,
    pod: string,
    options: { to?: number } = {},
  ): Promise<{ revision: PodRevision; manifest: Manifest }> {
    const intent = new PodTree(this.store, 'intent');
    const current = (await intent.getPod(node, pod)).value;
    let currentSha: string | undefined;
    try {
      currentSha = current?.manifest().sha();
    } catch {
      currentSha = undefined; // an unreadable intent: any kept revision differs from it
    }
    const revision = rollbackTarget(await this.list(node, pod), currentSha, options.to);
    if (!revision)
      throw new KvError(
        KvErrorCodes.NOT_FOUND,
        options.to === undefined
          ? `no earlier revision of ${pod} is kept for node ${node}`
          : `revision ${options.to} of ${pod} is not kept for node ${node}`,
        {
          hint: `p2 history ${pod} --node ${node} lists the kept revisions`,
          details: { node, pod },
        },
      );
    const manifest = parseManifest(revision.manifest, { source: this.key(node, pod) });
    await intent.setPod(node, manifest);
    return { revision, manifest };
  }
}

/**
 * The revision `p2 rollback` goes back to: revision `to` when given, else the newest one whose SHA
 * differs from what intent holds now (`currentSha`). Undefined when there is none.
 *
 * @example rollbackTarget([{ rev: 1, sha: 'a' }, { rev: 2, sha: 'b' }], 'b') // { rev: 1, sha: 'a' }
 */
export function rollbackTarget<R extends Pick<PodRevision, 'rev' | 'sha'>>(
  revisions: readonly R[],
  currentSha: string | undefined,
  to?: number,
): R | undefined {
  if (to !== undefined) return revisions.find((r) => r.rev === to);
  return [...revisions].reverse().find((r) => r.sha !== currentSha);
}
