/**
 * Ids by unique prefix for the controller commands (`p2 rc|ds|roll|pc …`), as git takes commit ids:
 * one `preAction` hook on the command group rewrites an `id` argument (and the id-valued options
 * named) to the whole id before the action runs; an ambiguous prefix ends the command listing the
 * candidates (exit 3); a prefix that matches nothing is left as given (not found, as before).
 */
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, runHook, type StoreFlags, withStore } from '@p2/cli-kit';
import { resolveIdPrefix } from '@p2/keyspace';

/**
 * Resolves the `id` argument of every subcommand of `group` against the records under `prefix`,
 * and each option in `options` (option name → its records' prefix).
 *
 * @example resolveIdsOf(rc, ctx, 'replication_controllers/')
 */
export function resolveIdsOf(
  group: Command,
  ctx: CliContext,
  prefix: string,
  options: Record<string, string> = {},
): void {
  group.hook(
    'preAction',
    runHook(ctx, async (_group, action) => {
      const index = action.registeredArguments.findIndex((a) => a.name() === 'id');
      const given = index >= 0 ? action.processedArgs[index] : undefined;
      const named = Object.entries(options).filter(
        ([name]) => typeof action.getOptionValue(name) === 'string',
      );
      if (typeof given !== 'string' && named.length === 0) return;
      await withStore(ctx, action.opts() as StoreFlags, async (store) => {
        if (typeof given === 'string')
          action.processedArgs[index] = await resolveIdPrefix(store, prefix, given);
        for (const [name, where] of named)
          action.setOptionValue(
            name,
            await resolveIdPrefix(store, where, action.getOptionValue(name) as string),
          );
      });
    }),
  );
}
