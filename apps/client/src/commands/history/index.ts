/**
 * `p2 history POD [--node N] [--show REV]` — the manifests the preparer deployed for a pod, per
 * node: the last 10 (`history/<node>/<pod>`, written after each successful deploy of a new
 * version), with revision number, time and SHA; `--show REV` prints one revision's manifest.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  run,
  style,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { type NodeHistory, podHistory } from '@p2/inspect';

function render(ctx: CliContext, pod: string, nodes: NodeHistory[]): string {
  const lines: string[] = [];
  for (const n of nodes) {
    lines.push(`${style.bold(ctx.io, n.node)} ${pod}:`);
    if (n.revisions.length === 0) lines.push(style.dim(ctx.io, '  no deploys recorded'));
    for (const r of n.revisions)
      lines.push(
        `  ${String(r.rev).padStart(3)}  ${r.time}  ${r.sha}${r.sha === n.intentSha ? `  ${style.green(ctx.io, '← intent')}` : ''}`,
      );
  }
  return lines.join('\n');
}

export function registerHistoryCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('history')
      .description(
        'List the manifests deployed for a pod, per node (what p2 rollback goes back to)',
      )
      .argument('<pod>', 'pod id')
      .option('--node <node>', 'only this node')
      .option('--show <rev>', "print this revision's manifest (needs --node when on several nodes)")
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (pod, options) => {
      const nodes = await withStore(ctx, options, (store) =>
        podHistory(store, pod, options.node ? { node: options.node } : {}),
      );
      if (options.show !== undefined) {
        const rev = wholeNumber(options.show, '--show');
        const found = nodes.flatMap((n) => n.revisions.filter((r) => r.rev === rev));
        if (found.length !== 1)
          throw new CliExit(
            found.length === 0 ? ExitCode.NOT_FOUND : ExitCode.USAGE,
            found.length === 0
              ? `error: revision ${rev} of ${pod} is not kept`
              : `error: revision ${rev} of ${pod} exists on several nodes: give --node`,
          );
        emit(ctx.io, options, found[0], (r) => r?.manifest.trimEnd() ?? '');
        return;
      }
      if (nodes.length === 0)
        throw new CliExit(ExitCode.NOT_FOUND, `error: pod ${pod} is on no node`);
      emit(
        ctx.io,
        options,
        nodes.map(({ node, intentSha, revisions }) => ({
          node,
          intentSha,
          revisions: revisions.map(({ rev, time, sha }) => ({ rev, time, sha })),
        })),
        () => render(ctx, pod, nodes),
      );
    }),
  );
}
