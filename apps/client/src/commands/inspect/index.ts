/**
 * `p2 inspect [--node N] [--pod P]` — intent vs reality vs health vs the preparer's status, per node
 * and pod (P2's p2-inspect, as a table), from `@p2/inspect`. `p2 watch` re-renders it whenever the
 * store changes.
 */
import { basename } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  type Io,
  type OutputOptions,
  run,
  style,
  table,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { goJson } from '@p2/go';
import {
  CRASHLOOP_EXITS,
  CRASHLOOP_WINDOW_MS,
  type Inspection,
  inspectionJson,
  inspectStore,
  type LaunchableExits,
  listNodes,
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
    case 'reverted':
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

function exitText(exit: NonNullable<LaunchableExits['lastExit']>): string {
  return exit.exitCode === null ? `signal ${exit.signal}` : `exit ${exit.exitCode}`;
}

/** Restarts since the deploy, summed over launchables, and the latest exit. */
function restarts(io: Io, p: PodInspection): string {
  if (!p.exits) return style.dim(io, '0');
  const count = p.exits.reduce((n, e) => n + e.restarts, 0);
  const last = p.exits
    .flatMap((e) => (e.lastExit ? [e.lastExit] : []))
    .sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0];
  return `${count}${last ? ` (${exitText(last)})` : ''}`;
}

/** `-o wide`'s extra columns: when the preparer last wrote, and each launchable's version. */
const WIDE_HEADERS = ['UPDATED', 'VERSIONS'];

function wideCells(io: Io, p: PodInspection): string[] {
  const versions = Object.entries(p.realityLaunchables ?? p.intentLaunchables ?? {})
    .map(([id, l]) => `${id}=${l.version || basename(l.location) || '-'}`)
    .join(',');
  return [p.status?.updated ?? style.dim(io, '-'), versions || style.dim(io, '-')];
}

/** The human view of an inspection (also used by `p2 watch`); `wide` adds {@link WIDE_HEADERS}. */
export function renderInspection(io: Io, inspection: Inspection, view = { wide: false }): string {
  const lines: string[] = [];
  if (inspection.pods.length === 0) lines.push(style.dim(io, 'no pods found'));
  else {
    lines.push(
      table(
        [
          ...['NODE', 'POD', 'INTENT', 'REALITY', 'HEALTH', 'PREPARER', 'RESTARTS', 'VERDICT'],
          ...(view.wide ? WIDE_HEADERS : []),
        ],
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
          restarts(io, p),
          colourVerdict(io, p.verdict),
          ...(view.wide ? wideCells(io, p) : []),
        ]),
      ),
    );
    for (const p of inspection.pods) {
      for (const e of p.verdict === 'crashlooping' ? (p.exits ?? []) : []) {
        if (e.recentExits < CRASHLOOP_EXITS) continue;
        lines.push(
          `${style.red(io, 'crashlooping')} ${p.node}/${p.pod}: ${e.launchable} exited ${e.recentExits} times in ${CRASHLOOP_WINDOW_MS / 60_000} min${e.lastExit ? `, last ${exitText(e.lastExit)} at ${e.lastExit.time}` : ''}`,
        );
      }
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
      .option(
        '--exit-status',
        'exit 1 unless every selected pod is converged (4 when none is selected)',
      )
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      if (options.format !== undefined && options.format !== 'tree' && options.format !== 'list') {
        throw new CliExit(
          ExitCode.USAGE,
          `error: --format must be tree or list, got ${JSON.stringify(options.format)}`,
        );
      }
      const { inspection, unknownNode } = await withStore(ctx, options, async (store) => {
        const found = await inspectStore(store, {
          ...filterOf(options),
          launchables: options.format !== undefined || (options as OutputOptions).output === 'wide',
        });
        // A node without pods is still known when the store has a trace of it (labels, status).
        const node = options.node;
        const unknown =
          node !== undefined &&
          found.pods.length === 0 &&
          !(await listNodes(store, found)).some((n) => n.node === node);
        return { inspection: found, unknownNode: unknown };
      });
      if (options.format) {
        // P2 printed this JSON (Go's escaping) whatever the other flags said.
        const body =
          options.format === 'tree' ? p2InspectTree(inspection) : p2InspectList(inspection);
        ctx.io.stdout(`${goJson(body)}\n`);
        return ExitCode.OK;
      }
      emit(ctx.io, options, inspectionJson(inspection), () =>
        renderInspection(ctx.io, inspection, {
          wide: (options as OutputOptions).output === 'wide',
        }),
      );
      if ((options.pod || unknownNode) && inspection.pods.length === 0) return ExitCode.NOT_FOUND;
      if (options.exitStatus) {
        if (inspection.pods.length === 0) return ExitCode.NOT_FOUND;
        if (inspection.pods.some((p) => p.verdict !== 'converged')) return ExitCode.FAILURE;
      }
    }),
  );
}
