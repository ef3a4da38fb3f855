/**
 * `p2 inspect [--node N] [--pod P]` — intent vs reality vs health vs the preparer's status, per node
 * and pod (P2's p2-inspect, as a table), from `@p2/inspect`. `p2 watch` re-renders it whenever the
 * store changes.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  type Io,
  run,
  style,
  table,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { goJson } from '@p2/go';
import {
  type Inspection,
  inspectStore,
  type PodInspection,
  p2InspectList,
  p2InspectTree,
} from '@p2/inspect';

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

/** The `--node`/`--pod` filter. */
export function filterOf(options: { node?: string; pod?: string }): {
  node?: string;
  pod?: string;
} {
  return {
    ...(options.node ? { node: options.node } : {}),
    ...(options.pod ? { pod: options.pod } : {}),
  };
}

export function registerInspectCommand(program: Command, ctx: CliContext): void {
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
  ).action(
    run(ctx, async (options) => {
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
        // P2 printed this JSON (Go's escaping) whatever the other flags said.
        const body =
          options.format === 'tree' ? p2InspectTree(inspection) : p2InspectList(inspection);
        ctx.io.stdout(`${goJson(body)}\n`);
        return ExitCode.OK;
      }
      emit(ctx.io, options, inspection, (i) => renderInspection(ctx.io, i));
      if (options.pod && inspection.pods.length === 0) return ExitCode.NOT_FOUND;
    }),
  );
}
