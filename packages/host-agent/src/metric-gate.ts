/**
 * Metric-gated rollouts on a node (issue 21): when a rolling update placed this pod and names a
 * metric gate (`rolls/<new RC id>` → `MetricGate`), the preparer scrapes the pod's metrics after
 * its deploy until the gate held for the soak time, or did not, and reports the verdict at
 * `status/gates/<node>/<pod>` for the roll farm, which cannot reach the pod.
 *
 * Threat model: the gate comes from the store (whoever may write `rolls/`); it can only choose a
 * path on the pod's own status port, scraped as its status check is. The pod's answer is untrusted:
 * read up to 4 MiB, parsed, and only numbers computed here reach the report.
 */
import { describeError } from '@p2/errors';
import { checkMetricGate, type GateExpression, healthTarget, soakMetricGate } from '@p2/health';
import {
  decodeRoll,
  type GateReport,
  GateReportStore,
  type MetricGate,
  rollKey,
} from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { ReservedLabel } from '@p2/labels';
import type { Manifest } from '@p2/manifest';
import { podLabelsWithin } from './revert.js';

/** How the preparer checks metric gates. */
export interface MetricGateSettings {
  /** Host the scrapes connect to (the health check's). */
  checkHost: string;
  /** Pause between scrapes. @default 1000 */
  intervalMs?: number;
  /** How long a pod has to answer its first scrape. @default 60000 */
  startupMs?: number;
}

/** The gate a deploy is held to: the rolling update's id and its gate, or why it cannot be read. */
export type PodGate =
  | { roll: string; gate: MetricGate; expression: GateExpression }
  | { roll: string; invalid: string };

/**
 * The metric gate for a pod, from its labels: the rolling update of the RC that placed it
 * (`replication_controller_id`), if that update names one. Undefined when there is none or the
 * store does not answer.
 */
export async function readPodGate(
  store: Store,
  labels: Record<string, string> | undefined,
): Promise<PodGate | undefined> {
  const rc = labels?.[ReservedLabel.REPLICATION_CONTROLLER_ID];
  if (!rc) return undefined;
  let entry: Awaited<ReturnType<Store['get']>>['value'];
  try {
    entry = (await store.get(rollKey(rc))).value;
  } catch {
    return undefined;
  }
  if (!entry) return undefined;
  let gate: MetricGate | undefined;
  try {
    gate = decodeRoll(entry.value, entry.key).metricGate;
  } catch (error) {
    return { roll: rc, invalid: describeError(error) };
  }
  if (!gate) return undefined;
  try {
    return { roll: rc, gate, expression: checkMetricGate(gate) };
  } catch (error) {
    return { roll: rc, invalid: describeError(error) };
  }
}

/**
 * For a pod already running when the preparer starts: its gate, when its rolling update still
 * names one and no verdict on this manifest was reported yet (the previous run of the preparer
 * stopped mid-soak). Costs one read for a pod no RC placed.
 */
export async function unfinishedGate(
  store: Store,
  node: string,
  manifest: Manifest,
): Promise<PodGate | undefined> {
  const gate = await readPodGate(store, await podLabelsWithin(store, node, manifest.id));
  if (!gate) return undefined;
  const report = await new GateReportStore(store).get(node, manifest.id).catch(() => undefined);
  const decided =
    report?.sha === manifest.sha() && report.roll === gate.roll && report.state !== 'soaking';
  return decided ? undefined : gate;
}

/**
 * Removes a pod's gate report once the preparer no longer runs the pod (uninstalled). A read
 * first: most pods never had one, and a delete is a store write.
 */
export async function removeGateReport(store: Store, node: string, podId: string): Promise<void> {
  const reports = new GateReportStore(store);
  // A malformed record is removed too: nothing reads it any more.
  const had = await reports.get(node, podId).then(
    (r) => r !== undefined,
    () => true,
  );
  if (had) await reports.delete(node, podId);
}

/** What {@link runPodGate} needs from the preparer. */
export interface GateRun {
  store: Store;
  node: string;
  settings: MetricGateSettings;
  /** False once intent no longer names this manifest, or the preparer stops. */
  stillWanted(): boolean;
  /** Keeps a final report the store did not take, to write it when the store answers. */
  retryLater(key: string, write: () => Promise<void>): void;
  logger: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/**
 * Soaks `manifest` against its gate and reports `soaking`, then `passed` or `failed`. Returns the
 * verdict (`abandoned` when intent moved on: nothing more is reported).
 */
export async function runPodGate(
  run: GateRun,
  manifest: Manifest,
  pod: PodGate,
): Promise<'passed' | 'failed' | 'abandoned'> {
  const reports = new GateReportStore(run.store);
  const report = (r: Omit<GateReport, 'sha' | 'roll' | 'updated'>): GateReport => ({
    sha: manifest.sha(),
    roll: pod.roll,
    ...r,
    updated: new Date().toISOString(),
  });
  const final = async (r: GateReport) => {
    const write = () => reports.set(run.node, manifest.id, r);
    await write().catch(() => run.retryLater(`gate:${manifest.id}`, write));
  };
  if ('invalid' in pod) {
    run.logger.warn({ pod: manifest.id, roll: pod.roll, reason: pod.invalid }, 'bad metric gate');
    await final(report({ state: 'failed', reason: `the metric gate is invalid: ${pod.invalid}` }));
    return 'failed';
  }
  const target = healthTarget(manifest, run.settings.checkHost);
  let soaking: Promise<void> = Promise.resolve();
  const verdict = await soakMetricGate(
    target,
    {
      path: pod.gate.path,
      expression: pod.expression,
      soakMs: pod.gate.soakMs,
      intervalMs: run.settings.intervalMs ?? 1000,
      startupMs: run.settings.startupMs ?? 60_000,
    },
    {
      stillWanted: run.stillWanted,
      onSoaking: () => {
        soaking = reports
          .set(run.node, manifest.id, report({ state: 'soaking' }))
          .catch(() => undefined);
      },
    },
  );
  await soaking; // the final report lands after it
  if (verdict.outcome === 'abandoned') return 'abandoned';
  const value = verdict.value === undefined ? {} : { value: verdict.value };
  if (verdict.outcome === 'passed') {
    run.logger.info({ pod: manifest.id, roll: pod.roll, ...value }, 'metric gate passed');
    await final(report({ state: 'passed', ...value }));
  } else {
    run.logger.warn(
      { pod: manifest.id, roll: pod.roll, reason: verdict.reason },
      'metric gate failed',
    );
    await final(report({ state: 'failed', reason: verdict.reason, ...value }));
  }
  return verdict.outcome;
}
