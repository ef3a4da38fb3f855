/**
 * `p2 roll start --prestage`: before the update is created, the new RC's manifest is pre-staged
 * (`@p2/replicate`'s `prestage`) on every node the old RC's pods are on, and every node must
 * answer `staged` — so each step of the roll only switches and restarts.
 */
import type { CliContext } from '@p2/cli-kit';
import { LabelStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { RcStore, rcCurrentPods } from '@p2/rc';
import { type PrestageResult, prestage } from '@p2/replicate';

/**
 * Pre-stages the new RC's manifest where the old RC runs and waits for every node.
 * @throws RcError `P2_RC_NOT_STAGED` (a node failed or did not answer), `P2_RC_NOT_FOUND`
 */
export async function prestageRoll(
  ctx: CliContext,
  store: Store,
  request: { oldRc: string; newRc: string },
  options: { timeoutMs: number; json: boolean },
): Promise<PrestageResult> {
  const { rc } = await new RcStore(store).get(request.newRc);
  const nodes = [...(await rcCurrentPods(new LabelStore(store), request.oldRc)).keys()].sort();
  if (!options.json)
    ctx.io.stderr(`pre-staging ${rc.manifest.id} (${request.newRc}) on ${nodes.length} nodes\n`);
  return prestage({
    store,
    manifest: rc.manifest,
    nodes,
    timeoutMs: options.timeoutMs,
    onProgress: (n) => {
      if (!options.json) ctx.io.stderr(`${n.node}: ${n.state}\n`);
    },
  });
}
