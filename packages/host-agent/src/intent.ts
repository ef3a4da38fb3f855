/**
 * This node's intent as desired states, one per pod. Reading the tree (legacy manifests at
 * `intent/<node>/<pod>`, uuid-pod indexes resolved through `pods/<uuid>`) is `@p2/kv`'s `PodTree`;
 * here every entry that cannot be used becomes an `invalid` desired state — reported, never an
 * uninstall (P2 dropped such entries, which uninstalled the pod).
 */
import { describeError } from '@p2/errors';
import { intentKey, type NodePods } from '@p2/keyspace';
import type { Manifest } from '@p2/manifest';
import { assertSafeLaunchableId, assertSafePodId } from '@p2/pods';

/** What one intent key asks of this host. */
export type Desired =
  | { kind: 'run'; manifest: Manifest; uniqueKey: string; key: string }
  | { kind: 'invalid'; podId: string; uniqueKey: string; key: string; error: string }
  | { kind: 'absent'; podId: string; uniqueKey: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `podId` or `podId/uuid` — one worker per pod instance. */
export function workerKey(podId: string, uniqueKey: string): string {
  return uniqueKey ? `${podId}/${uniqueKey}` : podId;
}

/** Turns one read of `intent/<node>/` into desired states. */
export function desiredFromIntent(node: string, intent: Omit<NodePods, 'index'>): Desired[] {
  const desired: Desired[] = [];
  for (const record of intent.pods) {
    const key = intentKey(node, record.uniqueKey ?? record.podId);
    const uniqueKey = record.uniqueKey ?? '';
    try {
      const manifest = record.manifest();
      if (!uniqueKey && manifest.id !== record.podId) {
        throw new Error(
          `the manifest's id is ${JSON.stringify(manifest.id)} but it is stored under ${key}`,
        );
      }
      // Ids name directories and runit services: checked before anything uses them.
      assertSafePodId(manifest.id);
      for (const launchableId of Object.keys(manifest.launchables))
        assertSafeLaunchableId(launchableId);
      desired.push({ kind: 'run', manifest, uniqueKey, key });
    } catch (error) {
      desired.push({
        kind: 'invalid',
        podId: record.podId,
        uniqueKey,
        key,
        error: describeError(error),
      });
    }
  }
  for (const problem of intent.problems) {
    const last = problem.key.split('/').pop() ?? problem.key;
    const uniqueKey = UUID.test(last) ? last.toLowerCase() : '';
    desired.push({
      kind: 'invalid',
      podId: last,
      uniqueKey,
      key: problem.key,
      error: problem.error.message,
    });
  }
  return desired;
}
