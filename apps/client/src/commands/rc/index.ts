/**
 * `p2 rc create|get|get-status|status|list|set-replicas|enable|disable|delete|update-manifest|update-strategy|sign` — replication
 * controllers over `@p2/rc`'s store (P2's p2-rctl). These only write records; the farms
 * (`p2-rctl-server` equivalents) act on them.
 */
import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from '@p2/cli-kit';
import { Prefix } from '@p2/keyspace';
import { resolveIdsOf } from '../../lib/id-prefix.js';
import { registerRecordSign } from '../../lib/record-sign-command.js';
import { registerRcCreate } from './create.js';
import { registerRcRead } from './read.js';
import { registerRcWrite } from './write.js';

export function registerRcCommand(program: Command, ctx: CliContext): void {
  const rc = program.command('rc').description('Replication controllers (P2: p2-rctl)');
  resolveIdsOf(rc, ctx, Prefix.replicationControllers);
  registerRcCreate(rc, ctx);
  registerRcRead(rc, ctx);
  registerRcWrite(rc, ctx);
  registerRecordSign(rc, ctx, 'rc');
}
