/** The pod view's data: `p2 describe`'s record plus each distinct manifest's text. */
import { describePod, type PodDescription } from '@p2/inspect';
import { PodTree } from '@p2/keyspace';
import type { Store } from '@p2/kv';

/** What `/api/pod` answers: {@link describePod}'s record and the manifests by SHA. */
export interface PodView extends PodDescription {
  /** Each distinct intended manifest, by P2 SHA, as stored (untrusted text). */
  manifests: Record<string, string>;
}

/** Reads one pod's view. @throws the store's `KvError` when the store cannot be read */
export async function readPod(store: Store, pod: string): Promise<PodView> {
  const description = await describePod(store, pod, { events: 50 });
  const manifests: Record<string, string> = {};
  const intent = new PodTree(store, 'intent');
  const decoder = new TextDecoder('utf-8', { fatal: false });
  for (const node of description.nodes) {
    const sha = node.intentSha;
    if (sha === null || sha in manifests) continue;
    const { pods } = await intent.listPods(node.node);
    const record = pods.find((p) => (p.uniqueKey ?? p.podId) === (node.uniqueKey ?? pod));
    if (record) manifests[sha] = decoder.decode(record.raw);
  }
  // inspectStore lists every unreadable record; keep this pod's.
  const problems = description.problems.filter((p) => p.key.endsWith(`/${pod}`));
  return { ...description, problems, manifests };
}
