/** Changing a daemon set the way P2's `p2-dsctl update` did, and what a selector would change. */
import { changedWhileSigning, RcError, RcErrorCode } from '@p2/controller-kit';
import {
  type AuditEventType,
  type DsRecord,
  type LabelStore,
  type StatementSigner,
  signForWrite,
} from '@p2/keyspace';
import { Selector } from '@p2/labels';
import type { Manifest } from '@p2/manifest';
import type { DsStore } from './daemon-set.js';

/** What {@link updateDaemonSet} may change; absent fields stay as they are. */
export interface DsChanges {
  readonly manifest?: Manifest;
  readonly nodeSelector?: Selector | string;
  /** Run on every node (replaces the selector with match-everything). */
  readonly everywhere?: boolean;
  readonly minHealth?: number;
  readonly clusterName?: string;
  /** Per-node timeout in ms; must be > 0. */
  readonly timeoutMs?: number;
  /**
   * Delegated signing: sign the updated record as a deployer. Without it, a change of manifest or
   * selector drops the old `deployer_signature` (it no longer covers the record).
   */
  readonly sign?: StatementSigner;
}

/** What {@link updateDaemonSet} did. */
export interface DsUpdate {
  readonly before: DsRecord;
  readonly after: DsRecord;
  /** The fields that changed (`manifest`, `nodeSelector`, `minHealth`, `clusterName`, `timeoutMs`). */
  readonly changed: readonly string[];
}

/**
 * Applies the fields of `changes` that differ from the daemon set (P2's `p2-dsctl update`): one
 * audited CAS write. A new selector is checked for contention as on create; the manifest must be
 * for the same pod id.
 *
 * @throws RcError `P2_RC_INVALID_REQUEST` (nothing changed, bad value), `P2_RC_CONFLICT`
 *   (contention, or kept changing), `P2_RC_NOT_FOUND`, `P2_RC_STORE`
 */
export async function updateDaemonSet(
  dss: DsStore,
  id: string,
  changes: DsChanges,
  user = '',
): Promise<DsUpdate> {
  const selector = changes.everywhere
    ? Selector.everything()
    : typeof changes.nodeSelector === 'string'
      ? Selector.parse(changes.nodeSelector)
      : changes.nodeSelector;
  if (selector && !changes.everywhere && selector.isEverything())
    throw new RcError(RcErrorCode.INVALID_REQUEST, 'a daemon set needs a node selector', {
      hint: 'pass a selector, or `everywhere` to run on every node',
    });
  if (changes.timeoutMs !== undefined && !(changes.timeoutMs > 0))
    throw new RcError(
      RcErrorCode.INVALID_REQUEST,
      `the timeout must be positive, got ${changes.timeoutMs} ms`,
    );
  if (
    changes.minHealth !== undefined &&
    (!Number.isSafeInteger(changes.minHealth) || changes.minHealth < 0)
  )
    throw new RcError(
      RcErrorCode.INVALID_REQUEST,
      `min health must be a non-negative integer, got ${changes.minHealth}`,
    );
  const apply = (ds: DsRecord): { next: DsRecord; changed: string[] } => {
    const changed: string[] = [];
    let next = ds;
    if (changes.manifest && changes.manifest.sha() !== ds.manifest.sha()) {
      next = { ...next, manifest: changes.manifest };
      changed.push('manifest');
    }
    if (selector && !selector.equals(ds.nodeSelector)) {
      next = { ...next, nodeSelector: selector };
      changed.push('nodeSelector');
    }
    for (const key of ['minHealth', 'clusterName', 'timeoutMs'] as const) {
      const value = changes[key];
      if (value !== undefined && value !== ds[key]) {
        next = { ...next, [key]: value };
        changed.push(key);
      }
    }
    return { next, changed };
  };
  const { ds: before } = await dss.get(id);
  const planned = apply(before);
  if (planned.changed.length === 0)
    throw new RcError(RcErrorCode.INVALID_REQUEST, `no changes were made to daemon set ${id}`, {
      hint: 'pass a value that differs from the current one',
    });
  if (planned.changed.includes('nodeSelector')) {
    const contender = await dss.contention(planned.next);
    if (contender)
      throw new RcError(
        RcErrorCode.CONFLICT,
        `daemon set ${id} would contend with daemon set ${contender} (overlapping nodes)`,
        { details: { contender } },
      );
  }
  const event: AuditEventType =
    planned.changed.length > 1
      ? 'DAEMON_SET_MODIFIED'
      : planned.changed[0] === 'manifest'
        ? 'DAEMON_SET_MANIFEST_UPDATED'
        : planned.changed[0] === 'nodeSelector'
          ? 'DAEMON_SET_NODE_SELECTOR_UPDATED'
          : 'DAEMON_SET_MODIFIED';
  let changed: string[] = [];
  let current = before;
  // Signed before the write: the signature covers exactly the record the CAS then stores.
  const seal = await signForWrite(
    'daemon_sets',
    changes.sign,
    () => planned.next,
    () => changedWhileSigning(`daemon set ${id}`, 'run the update again'),
  );
  const after = await dss.mutate(
    id,
    event,
    (ds) => {
      current = ds;
      const applied = apply(ds);
      changed = applied.changed;
      return seal(applied.next);
    },
    user,
  );
  return { before: current, after, changed };
}

/** The nodes a selector matches, and how that differs from a daemon set's current selector. */
export interface SelectorTest {
  /** Nodes the selector matches, sorted. */
  readonly matching: readonly string[];
  /** Nodes it matches that the current selector does not (empty without a current selector). */
  readonly added: readonly string[];
  /** Nodes the current selector matches that it does not. */
  readonly removed: readonly string[];
}

/**
 * Which nodes `selector` matches (P2's `p2-dsctl test-selector`) and, given the daemon set's
 * `current` selector, which nodes it would add and remove.
 *
 * @example await testSelector(labels, 'role=web', ds.nodeSelector) // { matching: ['n1','n2'], added: ['n2'], removed: [] }
 */
export async function testSelector(
  labels: LabelStore,
  selector: Selector | string,
  current?: Selector,
): Promise<SelectorTest> {
  const s = typeof selector === 'string' ? Selector.parse(selector) : selector;
  const nodes = async (sel: Selector) => (await labels.select('node', sel)).map((n) => n.id).sort();
  const matching = await nodes(s);
  if (!current) return { matching, added: [], removed: [] };
  const before = new Set(await nodes(current));
  const now = new Set(matching);
  return {
    matching,
    added: matching.filter((n) => !before.has(n)),
    removed: [...before].filter((n) => !now.has(n)).sort(),
  };
}
