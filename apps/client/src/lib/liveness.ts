/**
 * The controller-liveness line of `p2 rc|ds|roll` create/get/status: `@p2/inspect`'s
 * controllerLiveness, its warning on stderr, its record for the `controller` field of `--json`.
 */
import type { CliContext } from '@p2/cli-kit';
import { type ControllerKind, type ControllerLiveness, controllerLiveness } from '@p2/inspect';
import type { Store } from '@p2/kv';

/** Reads whether a farm acts on `id`, prints the warning when none does, and returns the record. */
export async function checkController(
  ctx: CliContext,
  store: Store,
  kind: ControllerKind,
  id: string,
  options: { justCreated?: boolean } = {},
): Promise<ControllerLiveness> {
  const liveness = await controllerLiveness(store, kind, id, options);
  if (liveness.warning) ctx.io.stderr(`warning: ${liveness.warning}\n`);
  return liveness;
}
