/**
 * `p2 trace DEPLOY|POD [--json]` — one deploy across the fleet as a timeline: every host's steps
 * (authorize, hooks, download, verify, extract, halt, start, enable, healthy, revert) with start
 * and duration, as a waterfall on a shared time axis. DEPLOY is the manifest SHA (or a prefix of
 * 6+ hex digits); a pod id shows its most recent deploy.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  run,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { type DeployTrace, deployTrace, renderWaterfall } from '@p2/inspect';

/** The `--json` shape: camelCase, null where a time is unknown. */
function traceJson(trace: DeployTrace) {
  return {
    deployId: trace.deployId,
    start: trace.start || null,
    end: trace.end || null,
    hosts: trace.hosts.map((h) => ({
      node: h.node,
      pod: h.pod,
      outcome: h.outcome,
      start: h.start || null,
      end: h.end || null,
      spans: h.spans.map((s) => ({
        name: s.name,
        parent: s.parent ?? null,
        start: s.start,
        ms: s.ms,
        failed: s.failed ?? false,
      })),
    })),
  };
}

export function registerTraceCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('trace')
      .description("Show one deploy's steps on every host as a timeline")
      .argument('<deploy>', 'deploy id (manifest SHA or a prefix of 6+ hex digits), or a pod id')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (query, options) => {
      const trace = await withStore(ctx, options, (store) => deployTrace(store, query));
      if (!trace)
        throw new CliExit(
          ExitCode.NOT_FOUND,
          `error: no deploy ${query} is recorded (p2 history POD lists the SHAs deployed)`,
        );
      emit(ctx.io, options, traceJson(trace), () => renderWaterfall(trace, 40));
    }),
  );
}
