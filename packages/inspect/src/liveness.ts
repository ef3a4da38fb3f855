/**
 * Whether a controller is acting on a record: farms claim each record with a session lock at
 * `lock/<kind>/<id>` (`@p2/keyspace`'s `lockKeys`), so a held lock is a live farm working on it.
 */
import { lockPrefixes } from '@p2/keyspace';
import type { Store } from '@p2/kv';

/** The farms whose claims {@link controllerLiveness} reads. */
export type ControllerKind = 'rc' | 'ds' | 'roll';

const PREFIX: Record<ControllerKind, string> = {
  rc: lockPrefixes.replicationControllers,
  ds: lockPrefixes.daemonSets,
  roll: lockPrefixes.rolls,
};
const NAME: Record<ControllerKind, string> = {
  rc: 'RC',
  ds: 'daemon set',
  roll: 'roll',
};

/** What the farm locks say (the `controller` field of `p2 rc|ds|roll … --json`). */
export interface ControllerLiveness {
  /** A farm holds this record's lock (it is acting on it). */
  claimed: boolean;
  /** A farm of this kind holds some record's lock (it is running). */
  farmRunning: boolean;
  /** A line for people when nothing acts on the record; absent when all is well. */
  warning?: string;
}

/**
 * Reads the farm locks of `kind`: whether `id` is claimed and whether any farm of the kind is
 * running. With `justCreated`, an unclaimed record is expected (the farm has not seen it yet), so
 * only a kind with no farm at all warns.
 *
 * @example (await controllerLiveness(store, 'rc', id)).warning // 'no RC farm is running …'
 */
export async function controllerLiveness(
  store: Store,
  kind: ControllerKind,
  id: string,
  options: { justCreated?: boolean } = {},
): Promise<ControllerLiveness> {
  const prefix = PREFIX[kind];
  const held = new Set(
    (await store.list(prefix)).value
      .filter((e) => e.session !== undefined)
      .map((e) => e.key.slice(prefix.length))
      .filter((rest) => rest !== '' && !rest.includes('/')),
  );
  const claimed = held.has(id);
  const farmRunning = held.size > 0;
  const name = NAME[kind];
  let warning: string | undefined;
  if (!farmRunning)
    warning = `no ${name} farm is running (no lock under ${prefix} is held): nothing will act on ${id} until p2-controllers runs`;
  else if (!claimed && !options.justCreated)
    warning = `no ${name} farm has claimed ${id} (${prefix}${id} is not held): a farm runs but does not act on it (its selector, or starting)`;
  return { claimed, farmRunning, ...(warning ? { warning } : {}) };
}
