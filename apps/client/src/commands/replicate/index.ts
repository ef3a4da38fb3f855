/**
 * `p2 replicate MANIFEST (--hosts h1,h2 | --selector SEL) [--min-nodes N] [--timeout D] [--prestage] [--json]`
 * (P2's p2-replicate) over `@p2/replicate`. Progress goes to stderr — a live line on a terminal, a
 * line per node otherwise, nothing with `--json` — so stdout carries only the result.
 */
import { hostname } from 'node:os';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  durationMs,
  ExitCode,
  emit,
  liveLine,
  run,
  style,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { isHealthState } from '@p2/keyspace';
import { lockMessage, prestage, type ReplicationProgress, replicate } from '@p2/replicate';
import { manifestFrom, targetNodes } from '../../lib/target-nodes.js';

export function registerReplicateCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('replicate')
      .description(
        'Deploy a manifest to nodes one batch at a time, gated on health (P2: p2-replicate)',
      )
      .argument('<manifest>', 'manifest file (plain or clearsigned) or http(s) URL')
      .option('--hosts <h1,h2>', 'nodes to deploy to, comma-separated')
      .option('--selector <sel>', 'nodes to deploy to, by node label selector')
      .option('--min-nodes <n>', 'healthy nodes to keep while it proceeds', '1')
      .option('--timeout <duration>', 'fail when a node is not healthy this long after its update')
      .option('--threshold <state>', 'lowest health counted as healthy', 'passing')
      .option('--override-lock', 'take over the lock of another replication of this pod')
      .option('--ignore-controllers', 'also deploy to nodes whose pod an RC manages')
      .option('--prestage', 'first download the artifacts on every node (waits for all)')
      .option('--prestage-timeout <duration>', 'with --prestage: longest wait for a node', '10m')
      .option('--json', 'print the result as JSON'),
  ).action(
    run(ctx, async (source, options) => {
      if (Boolean(options.hosts) === Boolean(options.selector)) {
        throw new CliExit(ExitCode.USAGE, 'error: give either --hosts or --selector');
      }
      if (!isHealthState(options.threshold)) {
        throw new CliExit(
          ExitCode.USAGE,
          'error: --threshold must be passing, warning, unknown or critical',
        );
      }
      const threshold = options.threshold;
      const minNodes = wholeNumber(options.minNodes, '--min-nodes');
      const timeoutMs = options.timeout ? durationMs(options.timeout, '--timeout') : undefined;
      const prestageMs = durationMs(options.prestageTimeout, '--prestage-timeout');
      const manifest = await manifestFrom(ctx, source);
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once('SIGINT', interrupt);
      const progress = progressView(ctx, Boolean(options.json));
      try {
        const result = await withStore(ctx, options, async (store) => {
          const nodes = await targetNodes(
            store,
            (options.hosts ?? '').split(',').filter(Boolean),
            options.selector,
          );
          // Every node has the artifacts before the first one restarts.
          if (options.prestage)
            await prestage({ store, manifest, nodes, timeoutMs: prestageMs, signal: stop.signal });
          progress.start(manifest.id, nodes.length);
          return replicate({
            store,
            manifest,
            nodes,
            minNodes,
            threshold,
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
            lockMessage: lockMessage(ctx.env.USER ?? '', hostname()),
            overrideLock: Boolean(options.overrideLock),
            ignoreControllers: Boolean(options.ignoreControllers),
            signal: stop.signal,
            onProgress: progress.update,
          });
        });
        progress.end();
        emit(
          ctx.io,
          options,
          result,
          (r) =>
            `${style.green(ctx.io, 'replicated')} ${r.podId} to ${r.updated.length + r.alreadyDone.length} nodes (${r.updated.length} updated, ${r.alreadyDone.length} already done)`,
        );
      } finally {
        progress.end();
        process.off('SIGINT', interrupt);
      }
    }),
  );
}

const VERB = { already: 'already done', started: 'updating', healthy: 'healthy' } as const;

/** stderr progress: a live line on a terminal, a line per node event otherwise, none for `--json`. */
function progressView(ctx: CliContext, json: boolean) {
  const line = ctx.io.isTTY && !json ? liveLine(ctx.io.stderr) : undefined;
  let pod = '';
  const summary = (p: { done: number; total: number; inProgress: readonly string[] }) =>
    `${pod}: ${p.done}/${p.total} done${p.inProgress.length ? `, updating ${p.inProgress.join(' ')}` : ''}`;
  return {
    start(podId: string, total: number) {
      pod = podId;
      line?.draw(summary({ done: 0, total, inProgress: [] }));
    },
    update(p: ReplicationProgress) {
      if (json) return;
      const text = `${p.node}: ${VERB[p.event]}`;
      if (line) {
        line.print(text);
        line.draw(summary(p));
      } else ctx.io.stderr(`${text} (${p.done}/${p.total})\n`);
    },
    end() {
      line?.done();
    },
  };
}
