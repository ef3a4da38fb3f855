/**
 * `p2 ds create|list|get|test-selector|update|enable|disable|delete|sign` — daemon sets over `@p2/rc`'s store (P2's
 * p2-dsctl): a pod on every node matching a selector; the daemon set farm acts on them.
 */

import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from '@p2/cli-kit';
import { Prefix } from '@p2/keyspace';
import { resolveIdsOf } from '../../lib/id-prefix.js';
import { registerRecordSign } from '../../lib/record-sign-command.js';
import { registerDsCreate } from './create.js';
import { registerDsRead } from './read.js';
import { registerDsWrite } from './write.js';

export function registerDsCommand(program: Command, ctx: CliContext): void {
  const ds = program
    .command('ds')
    .description('Daemon sets: a pod on every node matching a selector (P2: p2-dsctl)');
  resolveIdsOf(ds, ctx, Prefix.daemonSets);
  registerDsCreate(ds, ctx);
  registerDsRead(ds, ctx);
  registerDsWrite(ds, ctx);
  registerRecordSign(ds, ctx, 'ds');
}
