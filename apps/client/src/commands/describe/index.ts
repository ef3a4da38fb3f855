/**
 * `p2 describe POD [--node N] [--events N]` — what happened to a pod: its launchables, and per node
 * the intent and reality SHAs, verdict, health, the preparer's state and processes, the versions
 * that run, the latest events (deploy steps with times, failures, refusals, exits, restarts, health
 * transitions, hook failures) and the revisions `p2 history` keeps. Logic in `@p2/inspect`'s `describePod`.
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
import { describePod, type NodeDescription, type PodDescription } from '@p2/inspect';
import type { PodEvent } from '@p2/keyspace';

function eventLine(e: PodEvent): string {
  const parts: string[] = [e.time, e.type.padEnd(13)];
  if (e.sha) parts.push(e.sha.slice(0, 12));
  if (e.service) parts.push(e.service);
  if (e.type === 'exit') parts.push(`code=${e.exitCode ?? '-'} signal=${e.signal ?? '-'}`);
  if (e.type === 'restart') parts.push(`pid ${e.from ?? '?'} → ${e.pid ?? '?'}`);
  if (e.type === 'health') parts.push(`${e.from ?? '(none)'} → ${e.to ?? '?'}`);
  if (e.steps)
    parts.push(
      Object.entries(e.steps)
        .map(([step, ms]) => `${step}=${ms}ms`)
        .join(' '),
    );
  if (e.totalMs !== undefined) parts.push(`total=${e.totalMs}ms`);
  if (e.message) parts.push(e.message);
  if (e.code) parts.push(`(${e.code})`);
  return `    ${parts.join('  ')}`;
}

function renderNode(ctx: CliContext, n: NodeDescription): string[] {
  const lines = [
    `${style.bold(ctx.io, n.node)}${n.uniqueKey ? ` (uuid ${n.uniqueKey})` : ''}: ${n.verdict}, ${n.state ?? 'no preparer state'}${n.health ? `, health ${n.health}` : ''}`,
    `  intent ${n.intentSha ?? '-'}  reality ${n.realitySha ?? '-'}`,
  ];
  if (n.error) lines.push(`  error: ${n.error}`);
  for (const [id, v] of Object.entries(n.versions ?? {}))
    lines.push(`  ${id}: version ${v.version || '-'} (${v.location})`);
  for (const p of n.processes ?? [])
    lines.push(
      `  ${p.service}: ${p.state}${p.pid ? ` pid ${p.pid}` : ''}${p.lastExit ? `, last exit ${p.lastExit.exitCode ?? `signal ${p.lastExit.signal}`} at ${p.lastExit.time}` : ''}`,
    );
  if (n.revisions.length > 0)
    lines.push(`  revisions: ${n.revisions.map((r) => r.rev).join(', ')} (p2 history)`);
  lines.push(
    n.events.length > 0 ? '  events:' : style.dim(ctx.io, '  no events recorded'),
    ...n.events.map(eventLine),
  );
  return lines;
}

function render(ctx: CliContext, d: PodDescription): string {
  const lines = [`pod ${style.bold(ctx.io, d.pod)}`];
  for (const [id, v] of Object.entries(d.launchables ?? {}))
    lines.push(`  launchable ${id}: ${v.version || '-'} (${v.location})`);
  for (const n of d.nodes) lines.push('', ...renderNode(ctx, n));
  for (const p of d.problems) lines.push(style.yellow(ctx.io, `unreadable ${p.key}: ${p.error}`));
  return lines.join('\n');
}

export function registerDescribeCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('describe')
      .description(
        'Show what happened to a pod: versions per node, state, processes, recent events',
      )
      .argument('<pod>', 'pod id (or a uuid pod’s unique key)')
      .option('--node <node>', 'only this node')
      .option('--events <n>', 'how many of each node’s latest events to show', '20')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (pod, options) => {
      const events = wholeNumber(options.events, '--events');
      const description = await withStore(ctx, options, (store) =>
        describePod(store, pod, { events, ...(options.node ? { node: options.node } : {}) }),
      );
      if (description.nodes.length === 0)
        throw new CliExit(
          ExitCode.NOT_FOUND,
          `error: pod ${pod} is on no node${options.node ? ` named ${options.node}` : ''} (neither in intent nor in reality)`,
        );
      emit(ctx.io, options, description, (d) => render(ctx, d));
    }),
  );
}
