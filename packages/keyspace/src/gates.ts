/**
 * Metric gate reports (issue 21, a p2 extension): `status/gates/<node>/<pod>` is a preparer's
 * verdict on whether its pod's metrics held a rolling update's gate (`RollRecord.metricGate`) for
 * the soak time. The roll farm counts a gated new replica as healthy only once it says `passed`.
 */
import { assertSegment, KvError, KvErrorCodes, type Store } from '@p2/kv';
import { asObject } from './json.js';
import { Prefix } from './keys.js';

/** A preparer's verdict on a metric gate for one pod. */
export interface GateReport {
  /** The manifest SHA the gate was checked against. */
  sha: string;
  /** The rolling update whose gate it is (its id, the new RC's). */
  roll: string;
  /** `soaking` from the first scrape on; then `passed` or `failed` (with the reason). */
  state: 'soaking' | 'passed' | 'failed';
  reason?: string;
  /** The gate's last value, when a scrape gave one. */
  value?: number;
  /** RFC 3339. */
  updated: string;
}

const STATES = new Set(['soaking', 'passed', 'failed']);

/** `status/gates/<node>/<pod>`. @throws KvError `P2_KV_INVALID_KEY` for a bad node or pod id */
export function gateReportKey(node: string, podId: string): string {
  assertSegment('node name', node);
  assertSegment('pod id', podId);
  return `${Prefix.status}gates/${node}/${podId}`;
}

/**
 * Metric gate reports.
 *
 * @example
 * ```ts
 * const gates = new GateReportStore(store);
 * await gates.set('n1', 'web', { sha, roll: 'rc-2', state: 'passed', updated: new Date().toISOString() });
 * (await gates.get('n1', 'web'))?.state; // 'passed'
 * ```
 */
export class GateReportStore {
  constructor(private readonly store: Store) {}

  /** Records a preparer's verdict. */
  async set(node: string, podId: string, report: GateReport): Promise<void> {
    await this.store.put(gateReportKey(node, podId), JSON.stringify(report));
  }

  /**
   * The verdict for a pod on a node, or undefined when there is none.
   * @throws KvError `P2_KV_BAD_RECORD` when the record is malformed
   */
  async get(node: string, podId: string): Promise<GateReport | undefined> {
    const entry = (await this.store.get(gateReportKey(node, podId))).value;
    if (entry === undefined) return undefined;
    const o = asObject(entry);
    if (typeof o.sha !== 'string' || typeof o.roll !== 'string' || !STATES.has(o.state as string))
      throw new KvError(KvErrorCodes.BAD_RECORD, `${entry.key} is not a metric gate report`);
    return {
      sha: o.sha,
      roll: o.roll,
      state: o.state as GateReport['state'],
      ...(typeof o.reason === 'string' ? { reason: o.reason } : {}),
      ...(typeof o.value === 'number' ? { value: o.value } : {}),
      updated: typeof o.updated === 'string' ? o.updated : '',
    };
  }

  /** Removes a pod's verdict (a preparer does when it stops running the pod). */
  async delete(node: string, podId: string): Promise<void> {
    await this.store.delete(gateReportKey(node, podId));
  }
}
