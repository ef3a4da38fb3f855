/**
 * Every key of P2's store layout (spec 01 §2.1, spec 03 §0.1), spelled once. These build and split
 * keys only; the typed stores (`PodTree`, `HealthStore`, `LabelStore`…) validate what they write.
 */

/** The top-level trees of P2's store, each with its trailing slash. */
export const Prefix = {
  intent: 'intent/',
  reality: 'reality/',
  /** Uuid pods: `pods/<uuid>`. */
  pods: 'pods/',
  health: 'health/',
  labels: 'labels/',
  replicationControllers: 'replication_controllers/',
  rolls: 'rolls/',
  daemonSets: 'daemon_sets/',
  podClusters: 'pod_clusters/',
  auditLogs: 'audit_logs/',
  status: 'status/',
  lock: 'lock/',
  /** The preparer's recent events per pod: `events/<node>/<pod>` (a p2 extension). */
  events: 'events/',
  /** The manifests the preparer deployed per pod: `history/<node>/<pod>` (a p2 extension). */
  history: 'history/',
  /** Pre-stage requests per pod: `prestage/<node>/<pod>` (a p2 extension, issue 21). */
  prestage: 'prestage/',
} as const;

/** The pod trees: what should run (`intent`) and what runs (`reality`). */
export type PodTreeName = 'intent' | 'reality';

/** `intent/<node>/<podId>` (no validation; `PodTree` validates what it writes). */
export function intentKey(node: string, podId: string): string {
  return `${Prefix.intent}${node}/${podId}`;
}

/** `reality/<node>/<podId>`. */
export function realityKey(node: string, podId: string): string {
  return `${Prefix.reality}${node}/${podId}`;
}

/** `<tree>/<node>/<podId>`. */
export function podTreeKey(tree: PodTreeName, node: string, podId: string): string {
  return tree === 'intent' ? intentKey(node, podId) : realityKey(node, podId);
}

/** `<tree>/<node>/` — one node's pods (trailing slash: `web1` does not see `web10`). */
export function nodePodsPrefix(tree: PodTreeName, node: string): string {
  return `${tree}/${node}/`;
}

/**
 * Splits `<tree>/<node>/<podId>`; `undefined` for any other shape.
 *
 * @example parsePodTreeKey('intent/node1/hello') // { tree: 'intent', node: 'node1', podId: 'hello' }
 */
export function parsePodTreeKey(
  key: string,
): { tree: PodTreeName; node: string; podId: string } | undefined {
  const parts = key.split('/');
  const [tree, node, podId] = parts;
  if (parts.length !== 3 || (tree !== 'intent' && tree !== 'reality') || !node || !podId)
    return undefined;
  return { tree, node, podId };
}

/** `pods/<uuid>`: a uuid pod's manifest and node. */
export function uuidPodKey(uuid: string): string {
  return `${Prefix.pods}${uuid}`;
}

/** `replication_controllers/<id>`. */
export function rcKey(id: string): string {
  return `${Prefix.replicationControllers}${id}`;
}

/** `rolls/<new RC id>`. */
export function rollKey(id: string): string {
  return `${Prefix.rolls}${id}`;
}

/** `daemon_sets/<id>`. */
export function dsKey(id: string): string {
  return `${Prefix.daemonSets}${id}`;
}

/** `pod_clusters/<id>`. */
export function podClusterKey(id: string): string {
  return `${Prefix.podClusters}${id}`;
}

/** `audit_logs/<uuid>`. */
export function auditLogKey(id: string): string {
  return `${Prefix.auditLogs}${id}`;
}

/**
 * The id part of `<prefix><id>`, or `undefined` for keys not directly under the prefix.
 *
 * @example idFromKey('rolls/', 'rolls/abc') // 'abc'
 * @example idFromKey('rolls/', 'rolls/abc/x') // undefined
 */
export function idFromKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const id = key.slice(prefix.length);
  return id === '' || id.includes('/') ? undefined : id;
}

/** `status/rolls/<id>/rolling_update`: a rolling update's progress (a p2 extension). */
export function rollStatusKey(id: string): string {
  return `${Prefix.status}rolls/${id}/rolling_update`;
}

/** `status/replication_controllers/<id>/replication_controller`: an RC's status (spec 03 §1.4). */
export function rcStatusKey(id: string): string {
  return `${Prefix.status}replication_controllers/${id}/replication_controller`;
}

/** `status/daemon_sets/<id>/daemon_set_farm`: a daemon set's status (spec 01 §2.6). */
export function dsStatusKey(id: string): string {
  return `${Prefix.status}daemon_sets/${id}/daemon_set_farm`;
}

/** `status/preparer/<node>/<pod>`: the preparer's per-pod state (a p2 extension). */
export function preparerStatusKey(node: string, pod: string): string {
  return `${preparerStatusPrefix(node)}${pod}`;
}

/**
 * `status/nodes/<node>/preparer`: the preparer's heartbeat on a node (a p2 extension, beside P2's
 * `status/<type>/<id>/<namespace>` records); `status/nodes/` with no node.
 */
export function preparerNodeKey(node?: string): string {
  return node === undefined ? `${Prefix.status}nodes/` : `${Prefix.status}nodes/${node}/preparer`;
}

/** `status/preparer/<node>/`, or `status/preparer/` for every node. */
export function preparerStatusPrefix(node?: string): string {
  return node === undefined ? `${Prefix.status}preparer/` : `${Prefix.status}preparer/${node}/`;
}

/**
 * Splits `status/preparer/<node>/<pod>`; `undefined` for any other shape.
 *
 * @example parsePreparerStatusKey('status/preparer/n1/hello') // { node: 'n1', pod: 'hello' }
 */
export function parsePreparerStatusKey(key: string): { node: string; pod: string } | undefined {
  const parts = key.split('/');
  const [status, preparer, node, pod] = parts;
  if (parts.length !== 4 || status !== 'status' || preparer !== 'preparer' || !node || !pod)
    return undefined;
  return { node, pod };
}

/** `events/<node>/<pod or uuid>`: a bounded ring of the pod's recent events on that node. */
export function podEventsKey(node: string, pod: string): string {
  return `${Prefix.events}${node}/${pod}`;
}

/** `history/<node>/<pod or uuid>`: a bounded ring of the manifests deployed there. */
export function podHistoryKey(node: string, pod: string): string {
  return `${Prefix.history}${node}/${pod}`;
}

/** The lock keys P2 uses (spec 03 §0.1). */
export const lockKeys = {
  replicationController: (rc: string) => `${lockPrefixes.replicationControllers}${rc}`,
  replicationControllerUpdate: (rc: string) => `${lockPrefixes.replicationControllers}${rc}/update`,
  replicationControllerUpdateCreation: (rc: string) =>
    `${lockPrefixes.replicationControllers}${rc}/update_creation`,
  replicationControllerNodeTransfer: (rc: string) =>
    `${lockPrefixes.replicationControllers}${rc}/node_transfer`,
  roll: (ru: string) => `${lockPrefixes.rolls}${ru}`,
  daemonSet: (ds: string) => `${lockPrefixes.daemonSets}${ds}`,
  replication: (podId: string) => `${Prefix.lock}replication/${podId}`,
  podClusterCreation: (podId: string, az: string, cluster: string) =>
    `${Prefix.lock}${podId}/${az}/${cluster}`,
  podClusterSyncer: (pc: string, syncerType: string) =>
    `${Prefix.lock}pod_clusters/${pc}/${syncerType}`,
} as const;

/** The prefixes under which farms claim records with session locks. */
export const lockPrefixes = {
  replicationControllers: `${Prefix.lock}replication_controllers/`,
  rolls: `${Prefix.lock}rolls/`,
  daemonSets: `${Prefix.lock}daemon_sets/`,
} as const;
