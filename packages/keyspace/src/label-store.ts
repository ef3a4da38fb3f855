import { MAX_TXN_OPS, type Store, type TxnOp } from '@p2/kv';
import {
  type LabelSet,
  LabelsError,
  LabelsErrorCode,
  labelKeyProblem,
  labelValueProblem,
  Selector,
} from '@p2/labels';
import { type Logger, pino } from 'pino';
import {
  decodeLabels,
  encodeLabels,
  type Labeled,
  type LabelType,
  labelKey,
  labelTypePrefix,
} from './labels.js';

const silent = pino({ level: 'silent' });

/** Options of a {@link LabelStore}. */
export interface LabelStoreOptions {
  /** How often a read-modify-CAS is retried after losing a race. @default 5 */
  casRetries?: number;
  /** Refuse keys and values that are not valid label keys/values when writing. @default true */
  validate?: boolean;
  /** pino logger. @default silent */
  logger?: Logger;
}

/** A change to one label record: labels to set (merge) and label keys to remove. */
export interface LabelChange {
  readonly type: LabelType;
  readonly id: string;
  /** Labels to set; existing other labels are kept. */
  readonly set?: LabelSet;
  /** Label keys to remove. */
  readonly remove?: readonly string[];
}

/** A label record with the store index it was read at (0 = absent), for CAS. */
export interface IndexedLabels extends Labeled {
  readonly index: number;
}

function storeError(what: string, cause: unknown): LabelsError {
  return new LabelsError(
    LabelsErrorCode.STORE,
    `${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    { cause },
  );
}

function applyChange(
  current: LabelSet,
  change: { set?: LabelSet; remove?: readonly string[] },
): Record<string, string> {
  const next: Record<string, string> = { ...current };
  for (const [k, v] of Object.entries(change.set ?? {})) next[k] = v;
  for (const k of change.remove ?? []) delete next[k];
  return next;
}

function sameLabels(a: LabelSet, b: LabelSet): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * Labels for nodes, pods, RCs, pod clusters and rolls on any `@p2/kv` store, laid out as P2 did
 * (`labels/<type>/<id>`, JSON objects). Every change is a read-modify-CAS at the record's
 * ModifyIndex, retried when it loses a race; a record whose last label goes is deleted (delete-CAS).
 *
 * @example
 * ```ts
 * const labels = new LabelStore(store);
 * await labels.setLabels('node', 'node1', { availability_zone: 'us-west', role: 'web' });
 * (await labels.select('node', 'role=web')).map((n) => n.id); // ['node1']
 * ```
 */
export class LabelStore {
  readonly #store: Store;
  readonly #retries: number;
  readonly #validate: boolean;
  readonly #log: Logger;

  constructor(store: Store, options: LabelStoreOptions = {}) {
    this.#store = store;
    this.#retries = options.casRetries ?? 5;
    this.#validate = options.validate ?? true;
    this.#log = options.logger ?? silent;
  }

  /**
   * One record's labels and index; a missing record reads as no labels at index 0.
   *
   * @throws LabelsError `P2_LABELS_INVALID_RECORD`, `P2_LABELS_STORE`
   */
  async get(type: LabelType, id: string): Promise<IndexedLabels> {
    const key = labelKey(type, id);
    let entry: Awaited<ReturnType<Store['get']>>['value'];
    try {
      entry = (await this.#store.get(key)).value;
    } catch (cause) {
      throw storeError(`reading ${key}`, cause);
    }
    if (entry === undefined) return { type, id, labels: {}, index: 0 };
    return { type, id, labels: decodeLabels(entry.value, key), index: entry.modifyIndex };
  }

  /**
   * Every record of a type, sorted by id. Unreadable records are skipped and logged (one corrupt
   * record must not hide every node). P2 reported an empty type as an error; this returns `[]`.
   *
   * @throws LabelsError `P2_LABELS_STORE`
   */
  async list(type: LabelType): Promise<IndexedLabels[]> {
    const prefix = labelTypePrefix(type);
    let entries: Awaited<ReturnType<Store['list']>>['value'];
    try {
      entries = (await this.#store.list(prefix)).value;
    } catch (cause) {
      throw storeError(`listing ${prefix}`, cause);
    }
    const out: IndexedLabels[] = [];
    for (const e of entries) {
      const id = e.key.slice(prefix.length);
      if (id === '') continue;
      try {
        out.push({ type, id, labels: decodeLabels(e.value, e.key), index: e.modifyIndex });
      } catch (error) {
        this.#log.warn({ key: e.key, err: error }, 'skipping unreadable label record');
      }
    }
    return out;
  }

  /**
   * Records of a type whose labels match a selector (a string is parsed first).
   *
   * @throws LabelsError `P2_LABELS_SELECTOR_SYNTAX` (and other parse codes), `P2_LABELS_STORE`
   */
  async select(type: LabelType, selector: Selector | string): Promise<IndexedLabels[]> {
    const s = typeof selector === 'string' ? Selector.parse(selector) : selector;
    return (await this.list(type)).filter((r) => s.matches(r.labels));
  }

  /**
   * The ids of every record of a type whose labels match a selector, sorted: the entities a
   * selector-wide change acts on.
   *
   * @throws LabelsError as {@link LabelStore.select}
   * @example await labels.selectIds('node', 'role=web') // ['h1', 'h2']
   */
  async selectIds(type: LabelType, selector: Selector | string): Promise<string[]> {
    return (await this.select(type, selector)).map((m) => m.id).sort();
  }

  /**
   * Makes one change to each of `ids` and returns each one's labels afterwards, in the order of
   * `ids`: several in atomic transactions ({@link LabelStore.applyBatch}), one with
   * {@link LabelStore.apply}; `removeAll` deletes each record instead.
   *
   * @throws LabelsError as {@link LabelStore.applyBatch}
   * @example await labels.applyEach('node', await labels.selectIds('node', 'role=web'), { set: { zone: 'a' } })
   */
  async applyEach(
    type: LabelType,
    ids: readonly string[],
    change: Omit<LabelChange, 'type' | 'id'> & { readonly removeAll?: boolean },
  ): Promise<Labeled[]> {
    const { removeAll, ...rest } = change;
    if (removeAll) for (const id of ids) await this.removeAll(type, id);
    else if (ids.length > 1) await this.applyBatch(ids.map((id) => ({ type, id, ...rest })));
    else if (ids[0] !== undefined) await this.apply({ type, id: ids[0], ...rest });
    const out: Labeled[] = [];
    for (const id of ids)
      out.push({ type, id, labels: removeAll ? {} : { ...(await this.get(type, id)).labels } });
    return out;
  }

  /**
   * Sets one label (merging with the others).
   *
   * @throws LabelsError `P2_LABELS_INVALID_KEY`, `P2_LABELS_INVALID_VALUE`, `P2_LABELS_CAS_CONFLICT`, `P2_LABELS_STORE`
   */
  async setLabel(type: LabelType, id: string, key: string, value: string): Promise<LabelSet> {
    return this.apply({ type, id, set: { [key]: value } });
  }

  /** Sets several labels (merging). @throws LabelsError as {@link LabelStore.setLabel} */
  async setLabels(type: LabelType, id: string, labels: LabelSet): Promise<LabelSet> {
    return this.apply({ type, id, set: labels });
  }

  /** Removes one label; the record goes when it was the last. @throws LabelsError `P2_LABELS_CAS_CONFLICT`, `P2_LABELS_STORE` */
  async removeLabel(type: LabelType, id: string, key: string): Promise<LabelSet> {
    return this.apply({ type, id, remove: [key] });
  }

  /** Removes every label of a record (a plain delete, as P2). @throws LabelsError `P2_LABELS_STORE` */
  async removeAll(type: LabelType, id: string): Promise<void> {
    const key = labelKey(type, id);
    try {
      await this.#store.delete(key);
    } catch (cause) {
      throw storeError(`deleting ${key}`, cause);
    }
  }

  /**
   * Applies one change with read-modify-CAS, retried on a lost race; returns the labels written.
   *
   * @throws LabelsError `P2_LABELS_INVALID_KEY`, `P2_LABELS_INVALID_VALUE`, `P2_LABELS_CAS_CONFLICT`, `P2_LABELS_STORE`
   */
  async apply(change: LabelChange): Promise<LabelSet> {
    this.#check(change);
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(change.type, change.id);
      const next = applyChange(current.labels, change);
      if (sameLabels(next, current.labels)) return next;
      const op = this.#op(change.type, change.id, current.index, next);
      let ok: boolean;
      try {
        ok =
          op.verb === 'delete-cas'
            ? await this.#store.deleteCas(op.key, op.index)
            : await this.#store.cas(op.key, encodeLabels(next), current.index);
      } catch (cause) {
        throw storeError(`writing ${op.key}`, cause);
      }
      if (ok) return next;
      if (attempt >= this.#retries) {
        throw new LabelsError(
          LabelsErrorCode.CAS_CONFLICT,
          `${op.key} kept changing while being updated (${attempt + 1} attempts)`,
          { hint: 'another writer is updating the same labels; retry', details: { key: op.key } },
        );
      }
      this.#log.debug({ key: op.key, attempt }, 'label CAS lost a race; retrying');
    }
  }

  /**
   * The transaction op that applies `change` on top of `current` (what P2's txn variants add): a
   * `cas` at the record's index, or a `delete-cas` when no label is left. `undefined` when the
   * change changes nothing. The caller commits it with other ops; no retry happens here.
   *
   * @throws LabelsError `P2_LABELS_INVALID_KEY`, `P2_LABELS_INVALID_VALUE`
   */
  changeOp(current: IndexedLabels, change: Omit<LabelChange, 'type' | 'id'>): TxnOp | undefined {
    this.#check({ ...change, type: current.type, id: current.id });
    const next = applyChange(current.labels, change);
    if (sameLabels(next, current.labels)) return undefined;
    return this.#op(current.type, current.id, current.index, next);
  }

  /**
   * Applies many changes in transactions of at most {@link MAX_TXN_OPS} CAS ops. Each
   * transaction is atomic; a transaction that loses a race is re-read and retried. Changes to the
   * same record are merged first. Returns how many records were written.
   *
   * @throws LabelsError `P2_LABELS_INVALID_KEY`, `P2_LABELS_INVALID_VALUE`, `P2_LABELS_CAS_CONFLICT`, `P2_LABELS_STORE`
   */
  async applyBatch(changes: readonly LabelChange[]): Promise<number> {
    const merged = new Map<
      string,
      LabelChange & { set: Record<string, string>; remove: string[] }
    >();
    for (const c of changes) {
      this.#check(c);
      const key = labelKey(c.type, c.id);
      const m = merged.get(key) ?? { type: c.type, id: c.id, set: {}, remove: [] };
      for (const [k, v] of Object.entries(c.set ?? {})) {
        m.set[k] = v;
        m.remove = m.remove.filter((r) => r !== k);
      }
      for (const k of c.remove ?? []) {
        delete m.set[k];
        m.remove.push(k);
      }
      merged.set(key, m);
    }
    const all = [...merged.values()];
    let written = 0;
    for (let i = 0; i < all.length; i += MAX_TXN_OPS) {
      written += await this.#commitChunk(all.slice(i, i + MAX_TXN_OPS));
    }
    return written;
  }

  async #commitChunk(chunk: LabelChange[]): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const currents = await Promise.all(chunk.map((c) => this.get(c.type, c.id)));
      const ops: TxnOp[] = [];
      chunk.forEach((c, i) => {
        const op = this.changeOp(currents[i]!, c);
        if (op) ops.push(op);
      });
      if (ops.length === 0) return 0;
      let result: Awaited<ReturnType<Store['txn']>>;
      try {
        result = await this.#store.txn(ops);
      } catch (cause) {
        throw storeError(`committing ${ops.length} label changes`, cause);
      }
      if (result.committed) return ops.length;
      if (attempt >= this.#retries) {
        throw new LabelsError(
          LabelsErrorCode.CAS_CONFLICT,
          `a batch of ${ops.length} label changes kept losing races (${attempt + 1} attempts): ${result.errors.map((e) => e.what).join('; ')}`,
          { hint: 'another writer is updating the same labels; retry' },
        );
      }
      this.#log.debug({ attempt, errors: result.errors }, 'label batch rolled back; retrying');
    }
  }

  #op(type: LabelType, id: string, index: number, next: LabelSet): TxnOp & { key: string } {
    const key = labelKey(type, id);
    if (Object.keys(next).length === 0) return { verb: 'delete-cas', key, index };
    return { verb: 'cas', key, value: encodeLabels(next), index };
  }

  #check(change: LabelChange): void {
    labelKey(change.type, change.id);
    if (!this.#validate) return;
    for (const [k, v] of Object.entries(change.set ?? {})) {
      const kp = labelKeyProblem(k);
      if (kp) {
        throw new LabelsError(
          LabelsErrorCode.INVALID_KEY,
          `invalid label key "${k}" for ${change.type} ${change.id}: ${kp}`,
          {
            details: { key: k },
          },
        );
      }
      const vp = labelValueProblem(v);
      if (vp) {
        throw new LabelsError(
          LabelsErrorCode.INVALID_VALUE,
          `invalid value "${v}" for label "${k}" of ${change.type} ${change.id}: ${vp}`,
          { details: { key: k, value: v } },
        );
      }
    }
  }
}
