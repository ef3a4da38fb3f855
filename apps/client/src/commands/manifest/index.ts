/** `p2 manifest check|digest|show` — placeholder until @p2/manifest lands (owned by the manifest work). */
import type { Command } from 'commander';
import type { ProgramContext } from '../../program.js';

export function registerManifestCommand(program: Command, _ctx: ProgramContext): void {
  program.command('manifest').description('Check, digest and show pod manifests');
}
