/**
 * Waiting for one pod on one node to reach its goal — running as intended, or gone — with the
 * verdicts of {@link inspectStore} (behind `p2 schedule --wait` and `p2 unschedule --wait`).
 */
import type { Store } from '@p2/kv';
import type { PodInspection } from './inspect.js';
import { watchInspection } from './watch.js';

/** Which pod to wait for, and for what. */
export interface PodGoal {
  node: string;
  /** The pod id (legacy pod) or the uuid pod's unique key. */
  pod: string;
  /** `running`: intent = reality, preparer `running`, health passing (if checked); `gone`: neither intent nor reality. */
  want: 'running' | 'gone';
  /** With `running`: the pod has a status port, so its health must be `passing` too. */
  healthChecked?: boolean;
}

/** How a wait ended: `ok`, or the reason it cannot (the preparer's, or a timeout). */
export interface PodWaitEnd {
  outcome: 'ok' | 'failed' | 'invalid' | 'unauthorized' | 'reverted' | 'timeout';
  /** What the pod looked like last (absent when no record is left). */
  pod?: PodInspection;
  /** One line saying why (the preparer's error on failure). */
  message: string;
}

/**
 * Where a pod stands toward a goal: `end` when reached or impossible, and a one-line summary.
 *
 * @example podProgress(undefined, { node: 'h1', pod: 'web', want: 'gone' }).end?.outcome // 'ok'
 */
export function podProgress(
  row: PodInspection | undefined,
  goal: PodGoal,
): { line: string; end?: PodWaitEnd } {
  const where = `${goal.pod} on ${goal.node}`;
  const gone = !row || (row.intentSha === undefined && row.realitySha === undefined);
  if (goal.want === 'gone') {
    if (gone)
      return { line: `${where}: gone`, end: { outcome: 'ok', message: `${where} is gone` } };
    const state = row.status?.state ? `, preparer ${row.status.state}` : '';
    return { line: `${where}: ${row.intentSha ? 'still intended' : 'removing'}${state}` };
  }
  if (!row || row.intentSha === undefined) return { line: `${where}: not in intent` };
  const status = row.status;
  const preparer = status ? `preparer ${status.state}` : 'preparer has not reported';
  const health = row.health ? `, health ${row.health}` : '';
  const line = `${where}: ${row.verdict}, ${preparer}${health}`;
  if ((row.verdict === 'failed' || row.verdict === 'reverted') && status) {
    const outcome = status.state === 'failed' ? 'failed' : (status.state as PodWaitEnd['outcome']);
    const reason = status.error ? `: ${status.error}` : '';
    return {
      line,
      end: { outcome, pod: row, message: `${where}: ${status.state}${reason}` },
    };
  }
  const running = status?.state === 'running' && (!status.sha || status.sha === row.intentSha);
  const healthy = !goal.healthChecked || row.health === 'passing';
  if (row.verdict === 'converged' && running && healthy)
    return { line, end: { outcome: 'ok', pod: row, message: `${where} is running` } };
  return { line };
}

/** Options of {@link waitForPod}. */
export interface WaitForPodOptions {
  /** Give up after this long (outcome `timeout`). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with a new summary line each time the pod's state changes. */
  onChange?: (line: string, pod: PodInspection | undefined) => void;
  /** Store errors while watching (retried). */
  onError?: (error: unknown) => void;
}

/**
 * Watches the store until the pod reaches `goal` (outcome `ok`), the preparer reports that it
 * cannot (`failed`, `invalid`, `unauthorized`, naming its error), or the timeout passes.
 *
 * @example
 * ```ts
 * const end = await waitForPod(store, { node: 'h1', pod: 'web', want: 'running' }, { timeoutMs: 60_000 });
 * if (end.outcome !== 'ok') console.error(end.message);
 * ```
 */
export async function waitForPod(
  store: Store,
  goal: PodGoal,
  options: WaitForPodOptions = {},
): Promise<PodWaitEnd> {
  const timeout =
    options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
  const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 0 ? AbortSignal.any(signals) : new AbortController().signal;
  let last: { line: string; pod?: PodInspection } = { line: '' };
  for await (const inspection of watchInspection(
    store,
    { node: goal.node, pod: goal.pod },
    signal,
    options.onError,
  )) {
    const row = inspection.pods.find((p) => p.node === goal.node);
    const progress = podProgress(row, goal);
    if (progress.line !== last.line) options.onChange?.(progress.line, row);
    last = { line: progress.line, ...(row ? { pod: row } : {}) };
    if (progress.end) return progress.end;
  }
  options.signal?.throwIfAborted();
  return {
    outcome: 'timeout',
    ...(last.pod ? { pod: last.pod } : {}),
    message: `timed out; last: ${last.line || `${goal.pod} on ${goal.node}: no answer`}`,
  };
}
