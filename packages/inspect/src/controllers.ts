/**
 * What the store says about controllers and labels, shaped for display: replication controllers
 * (with the nodes their pods are on), rolling updates with their progress, daemon sets with their
 * status, and labelled entities. `p2 rc|roll|ds|label` print these as `--json`; a dashboard shows
 * the same data.
 */
import type { RcError } from '@p2/controller-kit';
import { DsStore, readDsStatus } from '@p2/daemon-set';
import {
  type DsRecord,
  type DsStatus,
  LabelStore,
  type LabelType,
  parsePodLabelId,
  podTreeKey,
  type RcRecord,
  type RollRecord,
  type RollStatus,
} from '@p2/keyspace';
import { KvError, KvErrorCodes, type Store } from '@p2/kv';
import type { Selector } from '@p2/labels';
import { isUuidShaped, type Manifest } from '@p2/manifest';
import { RcStore, rcCurrentPods } from '@p2/rc';
import { RollStore } from '@p2/roll';

/** A replication controller as people read it. */
export interface RcView {
  id: string;
  podId: string;
  /** The P2 SHA of its manifest. */
  sha: string;
  /** The node selector, as text (empty: every node). */
  nodeSelector: string;
  podLabels: Record<string, string>;
  replicasDesired: number;
  disabled: boolean;
  allocationStrategy: string;
  /** The node label replicas are spread across; null when not spread. */
  topologySpreadKey: string | null;
  /** Whether a deployer signed the RC (delegated signing). */
  deployerSigned: boolean;
  /** Nodes that currently carry a pod of this RC (only from {@link inspectRc}). */
  nodes?: string[];
  /** The node transfer its status record shows in progress, null when none (only from {@link inspectRc}). */
  nodeTransfer?: NodeTransferView | null;
}

/**
 * The view of one RC record.
 *
 * @example rcView((await new RcStore(store).get('web')).rc).sha
 */
export function rcView(rc: RcRecord): RcView {
  return {
    id: rc.id,
    podId: rc.manifest.id,
    sha: rc.manifest.sha(),
    nodeSelector: rc.nodeSelector.toString(),
    podLabels: { ...rc.podLabels },
    replicasDesired: rc.replicasDesired,
    disabled: rc.disabled,
    allocationStrategy: rc.allocationStrategy,
    topologySpreadKey: rc.topologySpreadKey ?? null,
    deployerSigned: Boolean(rc.deployerSignature),
  };
}

/**
 * One RC with the nodes its pods are on (sorted), the node transfer in progress if any, and its
 * manifest.
 *
 * @throws RcError `P2_RC_NOT_FOUND`
 * @example const { rc } = await inspectRc(store, 'web'); console.log(rc.nodes);
 */
export async function inspectRc(
  store: Store,
  id: string,
): Promise<{ rc: RcView & { nodes: string[] }; manifest: Manifest }> {
  const labels = new LabelStore(store);
  const rcs = new RcStore(store, { labels });
  const { rc } = await rcs.get(id);
  const nodes = [...(await rcCurrentPods(labels, id)).keys()].sort();
  // A status record that does not decode only loses this line of the view.
  const transfer = (await rcs.getStatus(id).catch(() => undefined))?.node_transfer;
  return {
    rc: {
      ...rcView(rc),
      nodes,
      nodeTransfer: transfer
        ? { id: transfer.id, oldNode: transfer.old_node, newNode: transfer.new_node }
        : null,
    },
    manifest: rc.manifest,
  };
}

/**
 * Every RC, by pod id then RC id; records that do not decode are returned as `errors`.
 *
 * @example const { rcs } = await listRcs(store);
 */
export async function listRcs(store: Store): Promise<{ rcs: RcView[]; errors: RcError[] }> {
  const { rcs, errors } = await new RcStore(store).list();
  const views = rcs
    .map(rcView)
    .sort((a, b) => a.podId.localeCompare(b.podId) || a.id.localeCompare(b.id));
  return { rcs: views, errors };
}

/**
 * A rolling update: its record (null once a finished update's record is gone) and the roll farm's
 * status (null before the first step).
 */
export interface RollView {
  /** The update id (= the new RC's id). */
  id: string;
  roll: RollRecord | null;
  status: RollStatus | null;
}

/**
 * Every rolling update, or only `id` (an empty list when neither its record nor its status exists).
 *
 * @example const [update] = await inspectRolls(store, 'web-v2');
 */
export async function inspectRolls(store: Store, id?: string): Promise<RollView[]> {
  const rolls = new RollStore(store);
  if (id) {
    // A finished update's record is gone but its status stays: show whichever exists.
    const roll = (await rolls.get(id))?.roll ?? null;
    const status = (await rolls.status(id)) ?? null;
    return roll || status ? [{ id, roll: roll ? { ...roll } : null, status }] : [];
  }
  const out: RollView[] = [];
  for (const roll of await rolls.list()) {
    out.push({
      id: roll.newRc,
      roll: { ...roll },
      status: (await rolls.status(roll.newRc)) ?? null,
    });
  }
  return out;
}

/** An RC's node transfer in progress (P2's `node_transfer`). */
export interface NodeTransferView {
  /** A UUID naming this transfer. */
  id: string;
  /** The ineligible node the replica left. */
  oldNode: string;
  /** The node it was moved to. */
  newNode: string;
}

/** A daemon set as people read it. */
export interface DsView {
  id: string;
  podId: string;
  /** The P2 SHA of its manifest. */
  sha: string;
  nodeSelector: string;
  minHealth: number;
  clusterName: string;
  timeoutMs: number;
  disabled: boolean;
  /** Whether a deployer signed the daemon set (delegated signing). */
  deployerSigned: boolean;
}

/**
 * The view of one daemon set record.
 *
 * @example dsView((await new DsStore(store).get(id)).ds).nodeSelector
 */
export function dsView(ds: DsRecord): DsView {
  return {
    id: ds.id,
    podId: ds.podId,
    sha: ds.manifest.sha(),
    nodeSelector: ds.nodeSelector.toString(),
    minHealth: ds.minHealth,
    clusterName: ds.clusterName,
    timeoutMs: ds.timeoutMs,
    disabled: ds.disabled,
    deployerSigned: Boolean(ds.deployerSignature),
  };
}

/**
 * Every daemon set, in the store's order.
 *
 * @example for (const ds of await listDaemonSets(store)) console.log(ds.id, ds.nodeSelector);
 */
export async function listDaemonSets(store: Store): Promise<DsView[]> {
  return (await new DsStore(store).list()).map(dsView);
}

/**
 * One daemon set with the farm's status (null until the farm wrote one).
 *
 * @throws RcError `P2_RC_NOT_FOUND`
 * @example const ds = await inspectDaemonSet(store, id); console.log(ds.status?.nodes_deployed);
 */
export async function inspectDaemonSet(
  store: Store,
  id: string,
): Promise<DsView & { status: DsStatus | null }> {
  const { ds } = await new DsStore(store).get(id);
  return { ...dsView(ds), status: (await readDsStatus(store, id)) ?? null };
}

/** One labelled entity. */
export interface LabelView {
  type: LabelType;
  /** Node name, `<node>/<pod>`, RC id… */
  id: string;
  labels: Record<string, string>;
}

/**
 * The labels of one entity (empty when it has none).
 *
 * @throws KvError `P2_KV_INVALID_KEY` for a pod id that is neither `<node>/<pod>` nor a UUID;
 *   `P2_KV_NOT_FOUND` for a `<node>/<pod>` without labels that is neither in intent nor in reality
 *
 * @example (await entityLabels(store, 'node', 'h1')).labels
 */
export async function entityLabels(
  store: Store | LabelStore,
  type: LabelType,
  id: string,
): Promise<LabelView> {
  const labels = store instanceof LabelStore ? store : new LabelStore(store);
  const pod = type === 'pod' ? parsePodLabelId(id) : undefined;
  if (type === 'pod' && !pod && !isUuidShaped(id))
    throw new KvError(KvErrorCodes.INVALID_KEY, `${JSON.stringify(id)} is not a pod label id`, {
      hint: 'a pod is <node>/<pod-id> (legacy pods) or its UUID',
    });
  const found = { ...(await labels.get(type, id)).labels };
  if (pod && Object.keys(found).length === 0 && !(store instanceof LabelStore)) {
    const [intent, reality] = await Promise.all(
      (['intent', 'reality'] as const).map((tree) =>
        store.get(podTreeKey(tree, pod.node, pod.podId)),
      ),
    );
    if (!intent?.value && !reality?.value)
      throw new KvError(KvErrorCodes.NOT_FOUND, `no pod ${pod.podId} on ${pod.node}`, {
        hint: 'no labels, and the pod is neither in intent nor in reality there',
      });
  }
  return { type, id, labels: found };
}

/**
 * The entities of a type whose labels match `selector`, by id.
 *
 * @example await queryLabels(store, 'node', Selector.parse('role=web'))
 */
export async function queryLabels(
  store: Store | LabelStore,
  type: LabelType,
  selector: Selector,
): Promise<LabelView[]> {
  const labels = store instanceof LabelStore ? store : new LabelStore(store);
  return (await labels.select(type, selector))
    .map((m) => ({ type, id: m.id, labels: { ...m.labels } }))
    .sort((a, b) => a.id.localeCompare(b.id));
}
