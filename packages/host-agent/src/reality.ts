/**
 * Reality in the store: `reality/<node>/<pod>` holds a legacy pod's manifest; a uuid pod's key holds
 * `{"pod_key": uuid}` and its manifest goes to `status/pods/<uuid>/preparer`, both in one
 * transaction (P2's layout).
 */
import { encodePodStatus, healthKey, realityKey, StatusStore } from '@p2/keyspace';
import type { Store, TxnOp } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import type { RealityRecorder } from './deploy.js';
import { HostAgentError, HostAgentErrorCode } from './errors.js';

/**
 * Records and removes what runs on one node.
 *
 * @example
 * ```ts
 * const reality = new StoreReality(store, 'h1');
 * await reality.write(manifest, '');   // reality/h1/<pod> = the manifest
 * ```
 */
export class StoreReality implements RealityRecorder {
  private readonly status: StatusStore;

  constructor(
    private readonly store: Store,
    private readonly node: string,
  ) {
    this.status = new StatusStore(store);
  }

  /** `reality/<node>/<uniqueKey or podId>`. */
  key(podId: string, uniqueKey: string): string {
    return realityKey(this.node, uniqueKey || podId);
  }

  /**
   * Records that `manifest` runs here.
   * @throws HostAgentError `P2_PREPARER_REALITY_ROLLED_BACK` when a uuid pod's transaction fails
   */
  async write(
    manifest: Manifest,
    uniqueKey: string,
    options: { withdrawHealth?: boolean } = {},
  ): Promise<void> {
    const key = this.key(manifest.id, uniqueKey);
    if (!uniqueKey && !options.withdrawHealth) {
      await this.store.put(key, manifest.raw);
      return;
    }
    // A legacy pod's update: the previous version's health record goes in the same commit, so no
    // reader sees reality name this version beside a record the previous one earned.
    const ops: TxnOp[] = !uniqueKey
      ? [
          { verb: 'set', key, value: manifest.raw },
          { verb: 'delete', key: healthKey(manifest.id, this.node) },
        ]
      : [
          { verb: 'set', key, value: JSON.stringify({ pod_key: uniqueKey }) },
          {
            verb: 'set',
            key: this.status.key('pods', uniqueKey, 'preparer'),
            value: encodePodStatus({
              process_status: [],
              status: 'launched',
              manifest: new TextDecoder().decode(manifest.raw),
            }),
          },
        ];
    const result = await this.store.txn(ops);
    if (!result.committed)
      throw new HostAgentError(
        HostAgentErrorCode.REALITY_ROLLED_BACK,
        `reality transaction for ${manifest.id} rolled back`,
      );
  }

  /**
   * Rewrites a pod's reality only when it differs from `manifest`: a legacy pod's entry; a uuid
   * pod's index (and its status record, when that does not say `launched` with this manifest). So
   * a wiped reality (`p2 wipe-reality`) is recorded again, and a converged pod costs reads only.
   * With `withdrawHealth`, a legacy entry naming another manifest is replaced together with the
   * pod's health record (a wiped entry keeps the record: it is the running version's).
   */
  async converge(
    manifest: Manifest,
    uniqueKey: string,
    options: { withdrawHealth?: boolean } = {},
  ): Promise<void> {
    if (uniqueKey) return this.convergeUuid(manifest, uniqueKey);
    const { value } = await this.store.get(this.key(manifest.id, uniqueKey));
    if (!value) return this.write(manifest, uniqueKey);
    // Reality named another version (a deploy that ended between its launch and its reality
    // write): a health record left from that one goes with the rewrite, as in `write`.
    if (Buffer.compare(Buffer.from(value.value), Buffer.from(manifest.raw)) !== 0)
      await this.write(manifest, uniqueKey, { withdrawHealth: options.withdrawHealth ?? false });
  }

  private async convergeUuid(manifest: Manifest, uniqueKey: string): Promise<void> {
    const key = this.key(manifest.id, uniqueKey);
    const [{ value: index }, { value: status }] = await Promise.all([
      this.store.get(key),
      this.status.get('pods', uniqueKey, 'preparer'),
    ]);
    const recorded =
      status?.status === 'launched' && status.manifest === new TextDecoder().decode(manifest.raw);
    if (!recorded) return this.write(manifest, uniqueKey);
    // The status (and the exits recorded in it) stays; only the index comes back.
    if (!index) await this.store.put(key, JSON.stringify({ pod_key: uniqueKey }));
  }

  /** Removes a pod's reality (and marks a uuid pod's status `removed`). */
  async remove(podId: string, uniqueKey: string): Promise<void> {
    const key = this.key(podId, uniqueKey);
    if (!uniqueKey) {
      await this.store.delete(key);
      return;
    }
    await this.store.txn([
      { verb: 'delete', key },
      {
        verb: 'set',
        key: this.status.key('pods', uniqueKey, 'preparer'),
        value: encodePodStatus({ process_status: [], status: 'removed', manifest: '' }),
      },
    ]);
  }
}
