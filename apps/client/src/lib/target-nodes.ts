/** The nodes a manifest command acts on: named ones, or those a node label selector picks. */
import { type CliContext, CliExit, ExitCode, fetchManifest, loadManifest } from '@p2/cli-kit';
import { LabelStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';

/**
 * `listed` when any, else the nodes `selector` picks.
 * @throws CliExit `NOT_FOUND` when there are none
 */
export async function targetNodes(
  store: Store,
  listed: readonly string[],
  selector: string | undefined,
): Promise<string[]> {
  const nodes =
    listed.length > 0 ? [...listed] : await new LabelStore(store).selectIds('node', selector ?? '');
  if (nodes.length === 0)
    throw new CliExit(ExitCode.NOT_FOUND, 'error: no nodes match the selector');
  return nodes;
}

/** A manifest from a file (strict lint) or an http(s) URL. */
export async function manifestFrom(ctx: CliContext, source: string): Promise<Manifest> {
  return /^https?:\/\//.test(source)
    ? fetchManifest(source)
    : loadManifest(ctx, source, { strict: true });
}
