/**
 * Waiting for a replication controller or a daemon set to have every pod it wants running its
 * manifest (behind `p2 rc … --wait` and `p2 ds … --wait`), with {@link podProgress}'s verdict per pod.
 */
import { DsStore } from '@p2/daemon-set';
import { LabelStore } from '@p2/keyspace';
import { type Store, watchIndexed } from '@p2/kv';
import { RcStore, rcCurrentPods } from '@p2/rc';
import { inspectStore, type PodInspection } from './inspect.js';
import { type PodWaitEnd, podProgress } from './wait.js';

/** Which controller to wait for. */
export interface ControllerGoal {
  kind: 'rc' | 'ds';
  id: string;
}

/** How a controller wait ended: `ok`, a pod the preparer cannot run (its reason), or a timeout. */
export interface ControllerWaitEnd {
  outcome: PodWaitEnd['outcome'];
  /** One line saying why. */
  message: string;
}

/**
 * Where a controller stands: how many of the pods it wants run its manifest as intended (and
 * answer, when the manifest has a status port), and `end` when all do or one cannot.
 *
 * @throws RcError / DsError when the controller does not exist
 * @example (await controllerProgress(store, { kind: 'rc', id })).line // 'rc 8f71ed74: 2/3 running (n3 deploying)'
 */
export async function controllerProgress(
  store: Store,
  goal: ControllerGoal,
): Promise<{ line: string; end?: ControllerWaitEnd }> {
  const labels = new LabelStore(store);
  const name = `${goal.kind} ${goal.id.slice(0, 8)}`;
  let nodes: string[];
  let want: number;
  let record: {
    manifest: { id: string; sha(): string; statusCheck(): unknown };
    disabled: boolean;
  };
  if (goal.kind === 'rc') {
    const { rc } = await new RcStore(store, { labels }).get(goal.id);
    record = rc;
    nodes = [...(await rcCurrentPods(labels, goal.id)).keys()].sort();
    want = rc.replicasDesired;
  } else {
    const { ds } = await new DsStore(store).get(goal.id);
    record = ds;
    nodes = (await labels.select('node', ds.nodeSelector.toString())).map((n) => n.id).sort();
    want = nodes.length;
  }
  const podId = record.manifest.id;
  const sha = record.manifest.sha();
  const { pods } = await inspectStore(store, { pod: podId });
  const waiting: string[] = [];
  let running = 0;
  for (const node of nodes) {
    const row: PodInspection | undefined = pods.find((p) => p.node === node && !p.uniqueKey);
    const progress = podProgress(row, {
      node,
      pod: podId,
      want: 'running',
      healthChecked: record.manifest.statusCheck() !== undefined,
    });
    if (row?.intentSha !== sha)
      waiting.push(`${node} ${row?.intentSha ? 'old version' : 'pending'}`);
    else if (progress.end?.outcome === 'ok') running++;
    else if (progress.end)
      return {
        line: progress.line,
        end: { outcome: progress.end.outcome, message: progress.end.message },
      };
    else waiting.push(`${node} ${row.verdict}`);
  }
  const disabled = record.disabled ? ' (disabled: its controller does nothing)' : '';
  const rest =
    waiting.length > 0
      ? ` (${waiting.slice(0, 3).join(', ')}${waiting.length > 3 ? ', …' : ''})`
      : '';
  const line = `${name}: ${running}/${want} running${rest}${disabled}`;
  if (running === want && nodes.length === want)
    return { line, end: { outcome: 'ok', message: `${name}: all ${want} running` } };
  return { line };
}

/** Options of {@link waitForController}. */
export interface WaitForControllerOptions {
  /** Give up after this long (outcome `timeout`). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with a new summary line each time the controller's progress changes. */
  onChange?: (line: string) => void;
  /** Store errors while watching (retried). */
  onError?: (error: unknown) => void;
}

/**
 * Watches the store until every pod the controller wants runs its manifest (outcome `ok`), a
 * preparer reports it cannot run one (`failed`, `invalid`, `unauthorized`), or the timeout passes.
 *
 * @example
 * ```ts
 * const end = await waitForController(store, { kind: 'ds', id }, { timeoutMs: 120_000 });
 * ```
 */
export async function waitForController(
  store: Store,
  goal: ControllerGoal,
  options: WaitForControllerOptions = {},
): Promise<ControllerWaitEnd> {
  const timeout =
    options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
  const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 0 ? AbortSignal.any(signals) : new AbortController().signal;
  let last = '';
  for await (const _ of watchIndexed(
    (index, waitMs, s) => store.keys('', { index, waitMs, signal: s }),
    { signal, ...(options.onError ? { onError: options.onError } : {}) },
  )) {
    const progress = await controllerProgress(store, goal);
    if (progress.line !== last) options.onChange?.(progress.line);
    last = progress.line;
    if (progress.end) return progress.end;
  }
  options.signal?.throwIfAborted();
  return {
    outcome: 'timeout',
    message: `timed out; last: ${last || `${goal.kind} ${goal.id}: no answer`}`,
  };
}
