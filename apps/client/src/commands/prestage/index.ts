/**
 * `p2 prestage MANIFEST (--node N… | --hosts h1,h2 | --selector SEL) [--wait] [--timeout D] [--cancel] [--json]`
 * (issue 21) over `@p2/replicate`'s `prestage`: every target node's preparer downloads and
 * verifies the manifest's artifacts beside what runs, so the rollout that follows only switches
 * and restarts. The preparer authorizes the request exactly as intent.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  durationMs,
  ExitCode,
  emit,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { PrestageStore } from '@p2/keyspace';
import { prestage } from '@p2/replicate';
import { manifestFrom, targetNodes } from '../../lib/target-nodes.js';

export function registerPrestageCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('prestage')
      .description(
        "Download and verify a manifest's artifacts on nodes ahead of a rollout (nothing restarts)",
      )
      .argument('<manifest>', 'manifest file (plain or clearsigned) or http(s) URL')
      .option(
        '--node <name>',
        'a node to pre-stage on (repeatable)',
        (value: string, previous: string[]) => [...previous, value],
        [] as string[],
      )
      .option('--hosts <h1,h2>', 'nodes to pre-stage on, comma-separated')
      .option('--selector <sel>', 'nodes to pre-stage on, by node label selector')
      .option('--wait', 'wait until every node has it on disk (exit 1 naming those that failed)')
      .option(
        '--timeout <duration>',
        'with --wait: fail nodes that have not answered by then',
        '10m',
      )
      .option(
        '--cancel',
        'withdraw the request instead (its staged installs may then be pruned); a deployed one is removed by the preparer',
      )
      .option('--json', 'print the result as JSON'),
  ).action(
    run(ctx, async (source, options) => {
      const listed = [...options.node, ...(options.hosts ?? '').split(',').filter(Boolean)];
      if (listed.length > 0 === Boolean(options.selector)) {
        throw new CliExit(ExitCode.USAGE, 'error: give either --node/--hosts or --selector');
      }
      const timeoutMs = durationMs(options.timeout, '--timeout');
      const manifest = await manifestFrom(ctx, source);
      if (options.cancel) {
        const nodes = await withStore(ctx, options, async (store) => {
          const nodes = await targetNodes(store, listed, options.selector);
          const requests = new PrestageStore(store);
          for (const node of nodes) await requests.cancel(node, manifest.id);
          return nodes;
        });
        emit(
          ctx.io,
          options,
          { podId: manifest.id, nodes, state: 'cancelled' },
          (r) => `withdrew the prestage of ${r.podId} on ${r.nodes.length} nodes`,
        );
        return;
      }
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once('SIGINT', interrupt);
      try {
        const result = await withStore(ctx, options, async (store) => {
          const nodes = await targetNodes(store, listed, options.selector);
          return prestage({
            store,
            manifest,
            nodes,
            wait: Boolean(options.wait),
            timeoutMs,
            signal: stop.signal,
            onProgress: (n) => {
              if (!options.json) ctx.io.stderr(`${n.node}: ${n.state}\n`);
            },
          });
        });
        emit(
          ctx.io,
          options,
          result,
          (r) =>
            `${style.green(ctx.io, options.wait ? 'staged' : 'requested')} ${r.podId} (${r.sha.slice(0, 12)}) on ${r.nodes.length} nodes`,
        );
      } finally {
        process.off('SIGINT', interrupt);
      }
    }),
  );
}
