/**
 * One deploy across the fleet, as a timeline (`p2 trace`): every host's steps of a version's
 * deploy — authorize, hooks, download, verify, extract, halt, start, enable, healthy, revert — with
 * their start and duration, read from the pods' events (`events/<node>/<pod>`, `deployId` = the
 * manifest SHA, shared by every host the version went to).
 */
import { type DeploySpan, decodePodEvents, type PodEvent, Prefix } from '@p2/keyspace';
import type { Store } from '@p2/kv';

/** One host's part of a deploy. */
export interface HostTrace {
  node: string;
  /** The pod's event key there (pod id, or uuid). */
  pod: string;
  /** `deployed`, `failed`, `healthy`, `reverted`. */
  outcome: string;
  /** Earliest step start (ISO 8601). */
  start: string;
  /** Latest step end (ISO 8601). */
  end: string;
  spans: DeploySpan[];
}

/** A deploy across hosts. */
export interface DeployTrace {
  /** The manifest SHA. */
  deployId: string;
  start: string;
  end: string;
  hosts: HostTrace[];
}

const OUTCOME: Partial<Record<PodEvent['type'], string>> = {
  deployed: 'deployed',
  'deploy-failed': 'failed',
  health: 'healthy',
  reverted: 'reverted',
};

/**
 * The deploy named by `query` — a deploy id (manifest SHA, or a prefix of at least 6 hex digits) or
 * a pod id (its most recent deploy) — across every node, or `undefined` when no event names it.
 * Per node, the latest deploy of that id counts, with what followed it (health, revert).
 *
 * @throws the store's `KvError` when the store cannot be read
 * @example
 * ```ts
 * const trace = await deployTrace(store, 'hello');
 * trace?.hosts.map((h) => `${h.node}: ${h.outcome}`);
 * ```
 */
export async function deployTrace(store: Store, query: string): Promise<DeployTrace | undefined> {
  const entries = (await store.list(Prefix.events)).value;
  const all: Array<{ node: string; pod: string; event: PodEvent }> = [];
  for (const entry of entries) {
    const [, node, pod] = entry.key.split('/');
    if (!node || !pod) continue;
    let events: PodEvent[];
    try {
      events = decodePodEvents(entry.value, entry.key);
    } catch {
      continue; // an unreadable record hides one pod's events, not the trace
    }
    for (const event of events) if (event.deployId) all.push({ node, pod, event });
  }
  const byId = /^[0-9a-f]{6,}$/.test(query)
    ? all.filter((e) => e.event.deployId!.startsWith(query))
    : [];
  const candidates = byId.length > 0 ? byId : all.filter((e) => e.pod === query);
  if (candidates.length === 0) return undefined;
  const latest = candidates.reduce((a, b) => (b.event.time > a.event.time ? b : a));
  const deployId = latest.event.deployId!;
  const hosts = new Map<string, HostTrace>();
  const mine = all
    .filter((e) => e.event.deployId === deployId)
    .sort((a, b) => a.event.time.localeCompare(b.event.time));
  for (const { node, pod, event } of mine) {
    const outcome = OUTCOME[event.type];
    if (!outcome) continue;
    const key = `${node}\u0000${pod}`;
    const spans = event.spans ?? [];
    const starting = event.type === 'deployed' || event.type === 'deploy-failed';
    const host = starting ? undefined : hosts.get(key);
    if (!host) {
      if (!starting) continue; // health or revert of a deploy whose own event is gone
      hosts.set(key, { node, pod, outcome, start: '', end: '', spans: [...spans] });
      continue;
    }
    host.outcome = outcome;
    host.spans.push(...spans);
  }
  const list = [...hosts.values()];
  for (const h of list) {
    h.start = minStart(h.spans);
    h.end = maxEnd(h.spans);
  }
  list.sort((a, b) => a.start.localeCompare(b.start) || a.node.localeCompare(b.node));
  const spans = list.flatMap((h) => h.spans);
  return { deployId, start: minStart(spans), end: maxEnd(spans), hosts: list };
}

function minStart(spans: DeploySpan[]): string {
  const t = Math.min(...spans.map((s) => Date.parse(s.start)));
  return Number.isFinite(t) ? new Date(t).toISOString() : '';
}

function maxEnd(spans: DeploySpan[]): string {
  const t = Math.max(...spans.map((s) => Date.parse(s.start) + s.ms));
  return Number.isFinite(t) ? new Date(t).toISOString() : '';
}

/**
 * The trace as a waterfall for a terminal: per host, one line per step with a bar placed on a
 * common time axis (`width` columns), its duration, and `!` for a failed step.
 *
 * @example
 * ```ts
 * console.log(renderWaterfall(trace, 40));
 * ```
 */
export function renderWaterfall(trace: DeployTrace, width = 40): string {
  const t0 = Date.parse(trace.start);
  const total = Math.max(1, Date.parse(trace.end) - t0);
  const column = (t: number) => Math.min(width - 1, Math.floor(((t - t0) / total) * width));
  const lines = [
    `deploy ${trace.deployId.slice(0, 12)}: ${trace.hosts.length} host(s), ${trace.start}, ${formatMs(total)}`,
  ];
  const nameWidth = Math.max(
    12,
    ...trace.hosts.flatMap((h) => h.spans.map((s) => s.name.length + (s.parent ? 2 : 0))),
  );
  for (const host of trace.hosts) {
    lines.push(`${host.node} ${host.pod}: ${host.outcome}`);
    for (const s of host.spans) {
      const from = column(Date.parse(s.start));
      const to = Math.max(from + 1, column(Date.parse(s.start) + s.ms) + 1);
      const bar = `${' '.repeat(from)}${'█'.repeat(Math.min(width, to) - from)}`.padEnd(width);
      const name = `${s.parent ? '  ' : ''}${s.name}`.padEnd(nameWidth);
      lines.push(`  ${name} |${bar}| ${formatMs(s.ms).padStart(7)}${s.failed ? ' !' : ''}`);
    }
  }
  return lines.join('\n');
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}
