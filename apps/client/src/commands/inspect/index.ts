/**
 * `p2 inspect [--node N] [--pod P]` — intent vs reality vs health vs the preparer's status, per node
 * and pod (P2's p2-inspect, as a table). `p2 watch` re-renders it whenever the store changes.
 */
import { type Store, watchIndexed } from '@p2/kv';
import type { Command } from 'commander';
import { ExitCode } from '../../exit-codes.js';
import { runCommand, type StoreFlags, withStore, withStoreFlags } from '../../lib/command.js';
import {
  type Inspection,
  inspectStore,
  type PodInspection,
  p2InspectList,
  p2InspectTree,
} from '../../lib/inspect.js';
import { table } from '../../lib/table.js';
import { CliExit, emit, type Io, type OutputOptions, style } from '../../output.js';
import type { ProgramContext } from '../../program.js';

interface InspectOptions extends OutputOptions, StoreFlags {
  node?: string;
  pod?: string;
}

interface WatchOptions extends InspectOptions {
  count?: string;
}

const short = (sha: string | undefined) => (sha ? sha.slice(0, 12) : '-');

function colourVerdict(io: Io, verdict: PodInspection['verdict']): string {
  switch (verdict) {
    case 'converged':
      return style.green(io, verdict);
    case 'failed':
      return style.red(io, verdict);
    case 'unknown':
      return style.dim(io, verdict);
    default:
      return style.yellow(io, verdict);
  }
}

function colourHealth(io: Io, health: string | undefined): string {
  if (!health) return style.dim(io, '-');
  if (health === 'passing') return style.green(io, health);
  if (health === 'critical') return style.red(io, health);
  return style.yellow(io, health);
}

/** The human view of an inspection (also used by `p2 watch`). */
export function renderInspection(io: Io, inspection: Inspection): string {
  const lines: string[] = [];
  if (inspection.pods.length === 0) lines.push(style.dim(io, 'no pods found'));
  else {
    lines.push(
      table(
        ['NODE', 'POD', 'INTENT', 'REALITY', 'HEALTH', 'PREPARER', 'VERDICT'],
        inspection.pods.map((p) => [
          p.node,
          p.uniqueKey ? `${p.pod} ${style.dim(io, p.uniqueKey)}` : p.pod,
          short(p.intentSha),
          p.realitySha === p.intentSha || !p.realitySha
            ? short(p.realitySha)
            : style.yellow(io, short(p.realitySha)),
          colourHealth(io, p.health),
          p.status
            ? `${p.status.state}${p.status.code ? ` (${p.status.code})` : ''}`
            : style.dim(io, '-'),
          colourVerdict(io, p.verdict),
        ]),
      ),
    );
    for (const p of inspection.pods) {
      if (p.status?.error && (p.verdict === 'failed' || p.status.state !== 'running')) {
        lines.push(`${style.red(io, 'error')} ${p.node}/${p.pod}: ${p.status.error}`);
      }
    }
  }
  for (const problem of inspection.problems) {
    lines.push(`${style.yellow(io, 'warning')} unreadable ${problem.key}: ${problem.error}`);
  }
  return lines.join('\n');
}

function filterOf(options: InspectOptions): { node?: string; pod?: string } {
  return {
    ...(options.node ? { node: options.node } : {}),
    ...(options.pod ? { pod: options.pod } : {}),
  };
}

/** Yields a fresh inspection each time the store changes (blocking queries; unchanged results are skipped). */
export async function* watchInspection(
  store: Store,
  filter: { node?: string; pod?: string },
  signal: AbortSignal,
  onError?: (error: unknown) => void,
): AsyncGenerator<Inspection, void, undefined> {
  let last = '';
  for await (const _ of watchIndexed(
    (index, waitMs, s) => store.keys('', { index, waitMs, signal: s }),
    {
      signal,
      ...(onError ? { onError } : {}),
    },
  )) {
    const inspection = await inspectStore(store, filter);
    const key = JSON.stringify(inspection);
    if (key === last) continue;
    last = key;
    yield inspection;
  }
}

export function registerInspectCommands(program: Command, ctx: ProgramContext): void {
  withStoreFlags(
    program
      .command('inspect')
      .description(
        'Show intent vs reality vs health vs preparer status, per node and pod (P2: p2-inspect)',
      )
      .option('--node <node>', 'only this node')
      .option('--pod <pod>', 'only this pod id (or uuid)')
      .option('--format <format>', "P2's JSON instead: tree ({pod: {node: status}}) or list")
      .option('--json', 'print JSON'),
  ).action(async (options: InspectOptions & { format?: string }) => {
    await runCommand(ctx, options, async () => {
      if (options.format !== undefined && options.format !== 'tree' && options.format !== 'list') {
        throw new CliExit(
          ExitCode.USAGE,
          `error: --format must be tree or list, got ${JSON.stringify(options.format)}`,
        );
      }
      const inspection = await withStore(ctx, options, (store) =>
        inspectStore(store, { ...filterOf(options), launchables: options.format !== undefined }),
      );
      if (options.format) {
        // P2 printed this JSON whatever the other flags said.
        const body =
          options.format === 'tree' ? p2InspectTree(inspection) : p2InspectList(inspection);
        ctx.io.stdout(`${JSON.stringify(body)}\n`);
        return ExitCode.OK;
      }
      emit(ctx.io, options, inspection, (i) => renderInspection(ctx.io, i));
      if (options.pod && inspection.pods.length === 0) return ExitCode.NOT_FOUND;
      return ExitCode.OK;
    });
  });

  withStoreFlags(
    program
      .command('watch')
      .description(
        'Follow `p2 inspect` live: redraws on a terminal, one JSON line per change when piped (or with --json)',
      )
      .option('--node <node>', 'only this node')
      .option('--pod <pod>', 'only this pod id (or uuid)')
      .option('--count <n>', 'stop after n updates')
      .option('--json', 'print one JSON line per change'),
  ).action(async (options: WatchOptions) => {
    await runCommand(ctx, options, async () => {
      const limit = options.count === undefined ? Number.POSITIVE_INFINITY : Number(options.count);
      if (!Number.isInteger(limit) || limit < 1) {
        ctx.io.stderr(
          `error: --count must be a positive integer, got ${JSON.stringify(options.count)}\n`,
        );
        return ExitCode.USAGE;
      }
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const live = ctx.io.isTTY && !options.json;
      try {
        await withStore(ctx, options, async (store) => {
          let seen = 0;
          let lastError = '';
          const onError = (error: unknown) => {
            // Say once that the store is unreachable; the watch keeps retrying with backoff.
            const text = error instanceof Error ? error.message : String(error);
            if (text === lastError) return;
            lastError = text;
            ctx.io.stderr(`${style.yellow(ctx.io, 'warning')}: ${text} (retrying)\n`);
          };
          for await (const inspection of watchInspection(
            store,
            filterOf(options),
            controller.signal,
            onError,
          )) {
            lastError = '';
            if (live) {
              ctx.io.stdout(
                `\u001b[H\u001b[2J${style.bold(ctx.io, `p2 watch — ${new Date().toISOString()}`)}\n${renderInspection(ctx.io, inspection)}\n`,
              );
            } else {
              ctx.io.stdout(
                `${JSON.stringify({ time: new Date().toISOString(), ...inspection })}\n`,
              );
            }
            if (++seen >= limit) break;
          }
        });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      return ExitCode.OK;
    });
  });
}
