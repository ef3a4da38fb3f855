/**
 * A small Prometheus text-format registry: the preparer exposes deploys, failures, step durations
 * and pods by state on `/metrics`. (Kept tiny on purpose: three metric kinds, no dependencies.)
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines.join('\n');
  }
}

export class Gauge implements Metric {
  private values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  /** Replaces every series at once (for "pods by state"). */
  replace(series: Array<[Labels, number]>): void {
    this.values = new Map(series.map(([labels, value]) => [labelKey(labels), value]));
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines.join('\n');
  }
}

const DEFAULT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class Histogram implements Metric {
  private readonly series = new Map<
    string,
    { counts: number[]; sum: number; count: number; labels: Labels }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets = DEFAULT_BUCKETS,
  ) {}
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0, labels };
      this.series.set(key, s);
    }
    this.buckets.forEach((bound, i) => {
      if (value <= bound) s.counts[i] = (s.counts[i] ?? 0) + 1;
    });
    s.sum += value;
    s.count += 1;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(
          `${this.name}_bucket${labelKey({ ...s.labels, le: String(bound) })} ${s.counts[i]}`,
        );
      });
      lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** The preparer's metrics. */
export class PreparerMetrics {
  readonly deploys = new Counter(
    'p2_preparer_deploys_total',
    'Pod deploy attempts by result (success, failure).',
  );
  readonly uninstalls = new Counter(
    'p2_preparer_uninstalls_total',
    'Pod uninstall attempts by result.',
  );
  readonly authFailures = new Counter(
    'p2_preparer_auth_failures_total',
    'Intent entries refused by authorization or verification.',
  );
  readonly invalidIntent = new Counter(
    'p2_preparer_invalid_intent_total',
    'Intent entries that could not be parsed.',
  );
  readonly stepSeconds = new Histogram(
    'p2_preparer_step_duration_seconds',
    'Duration of each deploy step.',
  );
  readonly podsByState = new Gauge('p2_preparer_pods', 'Pods on this node by state.');
  readonly storeErrors = new Counter('p2_preparer_store_errors_total', 'Failed store operations.');

  render(): string {
    return `${[
      this.deploys,
      this.uninstalls,
      this.authFailures,
      this.invalidIntent,
      this.stepSeconds,
      this.podsByState,
      this.storeErrors,
    ]
      .map((m) => m.render())
      .join('\n')}\n`;
  }
}
