/** Rolling update records (`rolls/<id>`), their labels and their status records. */

import { commit, listRecords, RcError, RcErrorCode, storeError } from '@p2/controller-kit';
import { formatRfc3339Nano } from '@p2/go';
import { checkMetricGate } from '@p2/health';
import {
  auditLogOp,
  decodeRc,
  decodeRoll,
  decodeRollStatus,
  encodeLabels,
  encodeRoll,
  encodeRollStatus,
  labelKey,
  type MetricGate,
  Prefix,
  type RcRecord,
  ROLL_DEFAULTS,
  type RollRecord,
  type RollStatus,
  type RollStrategy,
  rcKey,
  rollKey,
  rollStatusKey,
} from '@p2/keyspace';
import type { Store, TxnOp } from '@p2/kv';
import { ReservedLabel } from '@p2/labels';

/** What {@link RollStore.create} needs. */
export interface CreateRollRequest {
  readonly oldRc: string;
  readonly newRc: string;
  readonly desiredReplicas: number;
  readonly minimumReplicas: number;
  readonly leaveOld?: boolean;
  readonly rollDelayMs?: number;
  readonly strategy?: RollStrategy;
  readonly maxSurge?: number;
  readonly maxUnavailable?: number;
  readonly progressDeadlineMs?: number;
  readonly autoRollback?: boolean;
  /** Hold each new replica to a metric gate (checked by its preparer) for a soak time. */
  readonly metricGate?: MetricGate;
  /** Who started the update (the `ROLLING_UPDATE_CREATION` audit record). */
  readonly deployer?: string;
}

/**
 * Rolling update records at `rolls/<new RC id>` (Go field names, as P2) with their labels and
 * p2's status records.
 */
export class RollStore {
  constructor(private readonly store: Store) {}

  /**
   * Creates a rolling update (create-only, with its `labels/rolls/<id>` record) after checking
   * that both RCs exist, manage the same pod id, `desired ≥ minimum`, and no other update
   * references either RC.
   *
   * @throws RcError `P2_RC_INVALID_REQUEST`, `P2_RC_NOT_FOUND`, `P2_RC_ROLL_CONFLICT`, `P2_RC_STORE`
   */
  async create(request: CreateRollRequest): Promise<RollRecord> {
    const { deployer, ...fields } = request;
    const ru: RollRecord = { ...ROLL_DEFAULTS, ...fields };
    const bad = (m: string) =>
      new RcError(RcErrorCode.INVALID_REQUEST, `rolling update ${ru.oldRc} → ${ru.newRc}: ${m}`);
    if (ru.oldRc === ru.newRc) throw bad('old and new RC are the same');
    for (const [name, v] of [
      ['desired', ru.desiredReplicas],
      ['minimum', ru.minimumReplicas],
      ['maxSurge', ru.maxSurge],
      ['maxUnavailable', ru.maxUnavailable],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0)
        throw bad(`${name} must be a non-negative integer, got ${v}`);
    }
    if (ru.desiredReplicas < ru.minimumReplicas) {
      throw bad(`desired (${ru.desiredReplicas}) must be at least minimum (${ru.minimumReplicas})`);
    }
    if (ru.rollDelayMs < 0 || ru.progressDeadlineMs < 0) throw bad('delays must not be negative');
    if (ru.metricGate) {
      try {
        checkMetricGate(ru.metricGate);
      } catch (error) {
        throw bad((error as Error).message);
      }
    }
    const [oldRc, newRc] = await Promise.all([
      readRc(this.store, ru.oldRc),
      readRc(this.store, ru.newRc),
    ]);
    if (oldRc.rc.manifest.id !== newRc.rc.manifest.id) {
      throw bad(
        `the RCs manage different pods (${oldRc.rc.manifest.id} vs ${newRc.rc.manifest.id})`,
      );
    }
    for (const other of await this.list()) {
      for (const id of [ru.oldRc, ru.newRc]) {
        if (other.oldRc === id || other.newRc === id) {
          throw new RcError(
            RcErrorCode.ROLL_CONFLICT,
            `A deploy is already in progress (rolling update ${other.newRc} conflicts on RC ${id})`,
            {
              hint: `wait for it, or cancel it with \`p2 roll cancel ${other.newRc}\``,
              details: { conflict: other.newRc },
            },
          );
        }
      }
    }
    const podLabels = newRc.rc.podLabels;
    const labels: Record<string, string> = { [ReservedLabel.POD_ID]: newRc.rc.manifest.id };
    for (const k of [ReservedLabel.AVAILABILITY_ZONE, ReservedLabel.CLUSTER_NAME]) {
      if (podLabels[k] !== undefined) labels[k] = podLabels[k];
    }
    const ops: TxnOp[] = [
      { verb: 'cas', key: rollKey(ru.newRc), value: encodeRoll(ru), index: 0 },
      { verb: 'cas', key: labelKey('rolls', ru.newRc), value: encodeLabels(labels), index: 0 },
      { verb: 'delete', key: rollStatusKey(ru.newRc) },
      auditLogOp('ROLLING_UPDATE_CREATION', {
        pod_id: newRc.rc.manifest.id,
        availability_zone: labels[ReservedLabel.AVAILABILITY_ZONE] ?? '',
        cluster_name: labels[ReservedLabel.CLUSTER_NAME] ?? '',
        deployer: deployer ?? '',
        manifest: newRc.rc.manifest.text(),
        rolling_update_id: ru.newRc,
      }).op,
    ];
    try {
      await commit(this.store, ops, `creating rolling update ${ru.newRc}`);
    } catch (error) {
      if (error instanceof RcError && error.code === RcErrorCode.TXN_ROLLED_BACK) {
        throw new RcError(
          RcErrorCode.ROLL_CONFLICT,
          `a rolling update for RC ${ru.newRc} already exists`,
          { cause: error },
        );
      }
      throw error;
    }
    return ru;
  }

  /** One update with its index; `undefined` when absent. @throws RcError `P2_RC_INVALID_RECORD`, `P2_RC_STORE` */
  async get(id: string): Promise<{ roll: RollRecord; index: number } | undefined> {
    let entry: Awaited<ReturnType<Store['get']>>['value'];
    try {
      entry = (await this.store.get(rollKey(id))).value;
    } catch (cause) {
      throw storeError(`reading ${rollKey(id)}`, cause);
    }
    return entry
      ? { roll: decodeRoll(entry.value, entry.key), index: entry.modifyIndex }
      : undefined;
  }

  /** Every readable update. @throws RcError `P2_RC_STORE` */
  async list(): Promise<RollRecord[]> {
    // An unreadable record blocks nothing here; `get` reports it.
    return (await listRecords(this.store, Prefix.rolls, decodeRoll)).records;
  }

  /** The status record, if the update has run. */
  async status(id: string): Promise<RollStatus | undefined> {
    const entry = (
      await this.store.get(rollStatusKey(id)).catch((cause) => {
        throw storeError(`reading ${rollStatusKey(id)}`, cause);
      })
    ).value;
    if (!entry) return undefined;
    try {
      return decodeRollStatus(entry.value, entry.key);
    } catch (cause) {
      throw new RcError(RcErrorCode.INVALID_RECORD, `${entry.key}: not valid JSON`, {
        cause,
        hint: 'delete the status key; the next run writes a fresh one',
      });
    }
  }

  /** Pauses: the runner makes no step until {@link RollStore.resume}. @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_CONFLICT` */
  pause(id: string): Promise<RollRecord> {
    return this.#mutate(id, (r) => ({ ...r, paused: true }));
  }

  /** Resumes a paused update; also clears a `failed` state so the runner tries again with a fresh deadline. */
  async resume(id: string): Promise<RollRecord> {
    const roll = await this.#mutate(id, (r) => ({ ...r, paused: false }));
    const status = await this.status(id);
    if (status?.state === 'failed') {
      await this.store.put(
        rollStatusKey(id),
        encodeRollStatus({
          ...status,
          state: 'rolling',
          message: 'resumed after failure',
          lastProgressAt: formatRfc3339Nano(new Date()),
        }),
      );
    }
    return roll;
  }

  /**
   * Cancels: deletes the update and its labels. A running update stops at its next step; the RCs
   * stay where they are (P2 behaviour).
   */
  async cancel(id: string): Promise<void> {
    await commit(
      this.store,
      [
        { verb: 'delete', key: rollKey(id) },
        { verb: 'delete', key: labelKey('rolls', id) },
      ],
      `cancelling rolling update ${id}`,
    );
  }

  async #mutate(id: string, fn: (r: RollRecord) => RollRecord): Promise<RollRecord> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.get(id);
      if (!current) throw new RcError(RcErrorCode.NOT_FOUND, `rolling update ${id} does not exist`);
      const next = fn(current.roll);
      if (await this.store.cas(rollKey(id), encodeRoll(next), current.index)) return next;
    }
    throw new RcError(
      RcErrorCode.CONFLICT,
      `rolling update ${id} kept changing while being updated`,
    );
  }
}

/** An RC with the index it was read at. @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_STORE`, KvError `P2_KV_BAD_RECORD` */
export async function readRc(store: Store, id: string): Promise<{ rc: RcRecord; index: number }> {
  let entry: Awaited<ReturnType<Store['get']>>['value'];
  try {
    entry = (await store.get(rcKey(id))).value;
  } catch (cause) {
    throw storeError(`reading ${rcKey(id)}`, cause);
  }
  if (!entry)
    throw new RcError(RcErrorCode.NOT_FOUND, `replication controller ${id} does not exist`, {
      details: { id },
    });
  return { rc: decodeRc(entry.value, entry.key), index: entry.modifyIndex };
}
