/**
 * A tiny benchmark harness. Every suite measures its subject *and* a baseline in the same run and
 * prints medians plus the ratio subject/baseline, so figures are comparable across machines.
 * Timings are only printed, never asserted.
 */
import { performance } from 'node:perf_hooks';

export interface Sample {
  name: string;
  /** Median duration of one operation, in milliseconds. */
  medianMs: number;
  p99Ms: number;
  opsPerSecond: number;
  runs: number;
}

export interface MeasureOptions {
  /** Timed repetitions after warm-up. @default 200 */
  runs?: number;
  /** Untimed warm-up repetitions. @default 20 */
  warmup?: number;
  /** Operations performed by one call of `fn` (for throughput figures). @default 1 */
  opsPerRun?: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/** Runs `fn` repeatedly and returns the median and p99 of its durations. */
export async function measure(
  name: string,
  fn: () => unknown | Promise<unknown>,
  options: MeasureOptions = {},
): Promise<Sample> {
  const runs = options.runs ?? 200;
  const warmup = options.warmup ?? 20;
  const opsPerRun = options.opsPerRun ?? 1;
  for (let i = 0; i < warmup; i++) await fn();
  const durations: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    durations.push(performance.now() - start);
  }
  durations.sort((a, b) => a - b);
  const medianMs = quantile(durations, 0.5);
  return {
    name,
    medianMs,
    p99Ms: quantile(durations, 0.99),
    opsPerSecond: (1000 * opsPerRun) / medianMs,
    runs,
  };
}

/** Summarises externally collected latencies (e.g. watch wake-up times). */
export function summarize(name: string, latenciesMs: number[]): Sample {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const medianMs = quantile(sorted, 0.5);
  return {
    name,
    medianMs,
    p99Ms: quantile(sorted, 0.99),
    opsPerSecond: 1000 / medianMs,
    runs: sorted.length,
  };
}

/** Prints samples as a table with each one's ratio to `baseline` (ratio > 1 means slower than the baseline). */
export function report(title: string, baseline: Sample, samples: Sample[]): void {
  console.log(`\n## ${title}`);
  console.log(`baseline: ${baseline.name}`);
  const rows = [baseline, ...samples].map((s) => ({
    name: s.name,
    'median ms': s.medianMs.toFixed(3),
    'p99 ms': s.p99Ms.toFixed(3),
    'ops/s': Math.round(s.opsPerSecond).toLocaleString('en-US'),
    'x baseline': (s.medianMs / baseline.medianMs).toFixed(2),
  }));
  console.table(rows);
}
