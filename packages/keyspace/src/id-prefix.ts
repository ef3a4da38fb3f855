/** Ids given by a unique prefix, as git takes commit ids: `8f71ed74` for a whole controller id. */
import { KvError, KvErrorCodes, type Store } from '@p2/kv';
import { idFromKey } from './keys.js';

/**
 * The whole id that `given` names among the records directly under `prefix` (`replication_controllers/`,
 * `daemon_sets/`, `rolls/`, `pod_clusters/`): an exact id wins, else the one id starting with it;
 * `given` unchanged when none does (the caller reports "not found" as before).
 *
 * @throws KvError `P2_KV_INVALID_KEY` when several ids start with `given` (they are in the message and `details.candidates`)
 *
 * @example await resolveIdPrefix(store, 'replication_controllers/', '8f71') // '8f71ed74-…'
 */
export async function resolveIdPrefix(
  store: Store,
  prefix: string,
  given: string,
): Promise<string> {
  if (given === '' || given.includes('/')) return given;
  const { value: keys } = await store.keys(`${prefix}${given}`, { separator: '/' });
  const ids = [
    ...new Set(
      keys
        .map((k) => idFromKey(prefix, k.endsWith('/') ? k.slice(0, -1) : k))
        .filter((id) => id !== undefined),
    ),
  ].sort();
  if (ids.includes(given) || ids.length === 0) return given;
  if (ids.length === 1) return ids[0] as string;
  throw new KvError(
    KvErrorCodes.INVALID_KEY,
    `id prefix ${given} is ambiguous under ${prefix}: ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? `, … (${ids.length})` : ''}`,
    { details: { prefix, given, candidates: ids }, hint: 'type more of the id' },
  );
}
