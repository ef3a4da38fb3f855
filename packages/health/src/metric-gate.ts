/**
 * Metric gates (issue 21, beyond P2): a rolling update may require that each new replica's
 * Prometheus metrics hold a threshold for a soak time before it counts as healthy. The preparer on
 * the pod's node scrapes the pod (the controllers cannot reach it) and reports a verdict.
 *
 * A gate is `VALUE OP NUMBER`, where VALUE is a series, `histogram_quantile(Q, NAME{…})`, or one of
 * those divided by another (an error ratio). A counter (a `counter` family, an untyped `_total`
 * series, a histogram's or summary's `_bucket`/`_count`/`_sum`) counts its increase since the soak
 * began; anything else counts its current value. Several matching series are summed.
 *
 * Threat model: the pod answers the scrape, so its body is untrusted. It is read up to a size cap
 * and parsed; nothing of it reaches a message except numbers this code computed.
 */
import { formatGoDuration } from '@p2/go';
import { type HealthTarget, type HealthTlsOptions, healthCheckUrl, requestBody } from './check.js';
import { HealthError, HealthErrorCode } from './errors.js';

/** A comparison of a gate. */
export type GateOp = '<' | '<=' | '>' | '>=';

/** Series named in a gate: a sample name and the labels a sample must carry. */
export interface GateSeries {
  name: string;
  labels: Record<string, string>;
}

/** One side of a gate's value. */
export type GateTerm =
  | { kind: 'series'; series: GateSeries }
  | { kind: 'quantile'; quantile: number; series: GateSeries };

/** A parsed gate expression ({@link parseGateExpression}). */
export interface GateExpression {
  numerator: GateTerm;
  denominator?: GateTerm;
  op: GateOp;
  threshold: number;
  /** The expression as written. */
  text: string;
}

/** One sample of a scrape, flattened as the text format writes it. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Only ever goes up (its increase counts, not its value). */
  counter: boolean;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const NUMBER = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const OP = /<=|>=|<|>/y;

/**
 * Parses a gate such as `errors_total / requests_total < 0.05`,
 * `rate_limited{route="/api"} <= 10`, or
 * `histogram_quantile(0.99, http_request_duration_seconds{job="web"}) < 0.25`.
 *
 * @throws HealthError `P2_HEALTH_BAD_GATE` naming the position that does not parse
 * @example parseGateExpression('errors_total / requests_total < 0.05').threshold // 0.05
 */
export function parseGateExpression(text: string): GateExpression {
  let at = 0;
  const fail = (what: string): never => {
    throw new HealthError(
      HealthErrorCode.BAD_GATE,
      `metric gate ${JSON.stringify(text)}: expected ${what} at column ${at + 1}`,
      {
        hint: 'write e.g. `errors_total / requests_total < 0.05` or `histogram_quantile(0.99, latency_seconds) < 0.25`',
      },
    );
  };
  const space = () => {
    while (at < text.length && /\s/.test(text[at]!)) at++;
  };
  const match = (re: RegExp): string | undefined => {
    space();
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    at += m[0].length;
    return m[0];
  };
  const literal = (s: string): boolean => {
    space();
    if (!text.startsWith(s, at)) return false;
    at += s.length;
    return true;
  };
  const number = (what: string): number => {
    const n = Number(match(NUMBER) ?? fail(what));
    return Number.isFinite(n) ? n : fail(what);
  };
  const series = (): GateSeries => {
    const name = match(NAME) ?? fail('a metric name');
    const labels: Record<string, string> = {};
    if (literal('{')) {
      while (!literal('}')) {
        const label = match(LABEL_NAME) ?? fail('a label name or "}"');
        if (!literal('=')) fail('"=" (only exact label matches are supported)');
        space();
        if (text[at] !== '"') fail('a quoted label value');
        const end = text.indexOf('"', at + 1);
        if (end < 0) fail('the closing quote of the label value');
        labels[label] = text.slice(at + 1, end);
        at = end + 1;
        if (literal(',')) continue;
        space();
        if (text[at] !== '}') fail('"," or "}"');
      }
    }
    return { name, labels };
  };
  const term = (): GateTerm => {
    if (literal('histogram_quantile')) {
      if (!literal('(')) fail('"("');
      const quantile = number('a quantile between 0 and 1');
      if (quantile < 0 || quantile > 1) fail('a quantile between 0 and 1');
      if (!literal(',')) fail('","');
      const s = series();
      if (!literal(')')) fail('")"');
      return { kind: 'quantile', quantile, series: s };
    }
    return { kind: 'series', series: series() };
  };
  const numerator = term();
  const denominator = literal('/') ? term() : undefined;
  const op = (match(OP) ?? fail('one of < <= > >=')) as GateOp;
  const threshold = number('a number');
  space();
  if (at < text.length) fail('the end of the expression');
  return { numerator, ...(denominator ? { denominator } : {}), op, threshold, text: text.trim() };
}

/**
 * Reads Prometheus text format (exposition format 0.0.4) into samples, as the lines write them:
 * `x_bucket{le}`, `x_count` and `x_sum` for histograms, `x{quantile}` for summaries. `# TYPE` says
 * which are counters (and so do untyped `_total`/`_count`/`_sum`/`_bucket` names); timestamps are
 * ignored, and values that are not numbers are left out.
 *
 * Hand-written: `parse-prometheus-text-format` 1.1.1 drops the labels (and `_count`/`_sum`) of
 * labelled histograms, which latency gates need.
 *
 * @throws HealthError `P2_HEALTH_BAD_METRICS` naming the line number (never its content)
 */
export function parseMetricsText(text: string): MetricSample[] {
  const types = new Map<string, string>();
  const out: MetricSample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type = /^#\s*TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)/.exec(line);
      if (type) types.set(type[1]!, type[2]!.toLowerCase());
      continue;
    }
    const sample = parseSampleLine(line);
    if (!sample)
      throw new HealthError(
        HealthErrorCode.BAD_METRICS,
        `the metrics answer is not Prometheus text format (line ${n + 1})`,
      );
    const value = Number(
      sample.value.replace(/^\+?Inf$/, 'Infinity').replace(/^-Inf$/, '-Infinity'),
    );
    if (Number.isNaN(value)) continue;
    const family = /^(.*)_(bucket|count|sum|total)$/.exec(sample.name);
    const familyType = family ? types.get(family[1]!) : undefined;
    const ownType = types.get(sample.name);
    const counter =
      ownType === 'counter' ||
      ((familyType === 'histogram' || familyType === 'summary') && family?.[2] !== 'total') ||
      familyType === 'counter' ||
      ((ownType === undefined || ownType === 'untyped') && family !== null);
    out.push({ name: sample.name, labels: sample.labels, value, counter });
  }
  return out;
}

const SAMPLE_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** `name{a="b",…} value [timestamp]`; undefined when the line is not one. */
function parseSampleLine(
  line: string,
): { name: string; labels: Record<string, string>; value: string } | undefined {
  const name = SAMPLE_NAME.exec(line)?.[0];
  if (!name) return undefined;
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    for (;;) {
      while (line[at] === ' ' || line[at] === ',') at++;
      if (line[at] === '}') {
        at++;
        break;
      }
      const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(at))?.[0];
      if (!label) return undefined;
      at += label.length;
      while (line[at] === ' ') at++;
      if (line[at] !== '=') return undefined;
      at++;
      while (line[at] === ' ') at++;
      if (line[at] !== '"') return undefined;
      at++;
      let value = '';
      for (;;) {
        const c = line[at++];
        if (c === undefined) return undefined;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[at++];
          value += e === 'n' ? '\n' : (e ?? '');
        } else value += c;
      }
      labels[label] = value;
    }
  }
  const rest = line.slice(at).trim().split(/\s+/);
  if (
    rest.length < 1 ||
    rest.length > 2 ||
    rest[0] === '' ||
    (line[at] !== ' ' && line[at] !== '\t')
  )
    return undefined;
  return { name, labels, value: rest[0]! };
}

const seriesKey = (s: MetricSample) =>
  `${s.name}{${Object.entries(s.labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;

const matches = (s: MetricSample, want: GateSeries) =>
  s.name === want.name && Object.entries(want.labels).every(([k, v]) => s.labels[k] === v);

/** What one scrape says about a gate. */
export interface GateReading {
  /** The gate's value; undefined when the scrape had no data for it (no series, nothing to divide by). */
  value?: number;
  /** Whether the value holds the threshold (undefined without a value). */
  holds?: boolean;
}

/**
 * Evaluates a gate over successive scrapes: the first is the baseline counters' increases are
 * measured from; each later one gives a {@link GateReading}.
 *
 * @example
 * ```ts
 * const gate = new MetricGateEvaluator(parseGateExpression('errors_total / requests_total < 0.05'));
 * gate.observe(parseMetricsText('errors_total 1\nrequests_total 100\n')); // baseline: {}
 * gate.observe(parseMetricsText('errors_total 2\nrequests_total 200\n')); // { value: 0.01, holds: true }
 * ```
 */
export class MetricGateEvaluator {
  private baseline: Map<string, number> | undefined;

  constructor(readonly expression: GateExpression) {}

  /** Feeds one scrape. The first call only records the baseline. */
  observe(samples: MetricSample[]): GateReading {
    if (!this.baseline) {
      this.baseline = new Map(samples.filter((s) => s.counter).map((s) => [seriesKey(s), s.value]));
      return {};
    }
    const { numerator, denominator, op, threshold } = this.expression;
    const top = this.term(numerator, samples);
    const bottom = denominator ? this.term(denominator, samples) : 1;
    if (top === undefined || bottom === undefined || bottom === 0) return {};
    const value = top / bottom;
    if (Number.isNaN(value)) return {};
    const holds =
      op === '<'
        ? value < threshold
        : op === '<='
          ? value <= threshold
          : op === '>'
            ? value > threshold
            : value >= threshold;
    return { value, holds };
  }

  /** A sample's contribution: a counter's increase since the baseline (a reset counts from 0). */
  private amount(s: MetricSample): number {
    if (!s.counter) return s.value;
    const before = this.baseline?.get(seriesKey(s)) ?? 0;
    return s.value >= before ? s.value - before : s.value;
  }

  private term(term: GateTerm, samples: MetricSample[]): number | undefined {
    if (term.kind === 'series') {
      const found = samples.filter((s) => matches(s, term.series));
      return found.length === 0 ? undefined : found.reduce((sum, s) => sum + this.amount(s), 0);
    }
    const want = { ...term.series, name: `${term.series.name}_bucket` };
    const byBound = new Map<number, number>();
    for (const s of samples) {
      if (!matches(s, want) || s.labels.le === undefined) continue;
      const bound = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      if (Number.isNaN(bound)) continue;
      byBound.set(bound, (byBound.get(bound) ?? 0) + this.amount(s));
    }
    return histogramQuantile(term.quantile, byBound);
  }
}

/** Prometheus' `histogram_quantile` over cumulative bucket counts (linear within a bucket). */
function histogramQuantile(q: number, buckets: Map<number, number>): number | undefined {
  const sorted = [...buckets.entries()].sort(([a], [b]) => a - b);
  const total = sorted.at(-1);
  if (!total || total[0] !== Number.POSITIVE_INFINITY || total[1] <= 0) return undefined;
  const rank = q * total[1];
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return lowerBound;
      if (count === lowerCount) return bound;
      return lowerBound + (bound - lowerBound) * ((rank - lowerCount) / (count - lowerCount));
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

/** Options of {@link scrapeMetrics}. */
export interface ScrapeOptions {
  /** @default 5000 */
  timeoutMs?: number;
  tls?: HealthTlsOptions;
  /** Larger answers fail the scrape. @default 4 MiB */
  maxBodyBytes?: number;
  signal?: AbortSignal;
}

/** A scrape's outcome: samples, or why there are none (never the pod's text). */
export type ScrapeResult = { ok: true; samples: MetricSample[] } | { ok: false; reason: string };

const PATH = /^\/[\x21-\x7e]{0,255}$/;

/** Whether `path` may be scraped: an absolute path of printable ASCII, at most 256 characters. */
function isMetricsPath(path: string): boolean {
  return PATH.test(path) && !path.includes('#');
}

/**
 * Checks a rolling update's metric gate as stored (`@p2/keyspace` `MetricGate`): its expression
 * parses, its path is one {@link isMetricsPath} accepts, its soak is not negative. Every place that
 * takes a gate (`p2 roll`, the roll store, the preparer) checks it with this.
 *
 * @throws HealthError `P2_HEALTH_BAD_GATE` saying what is wrong (with a hint for the expression)
 * @example checkMetricGate({ path: '/metrics', expr: 'up < 1', soakMs: 30_000 }).op // '<'
 */
export function checkMetricGate(gate: {
  path: string;
  expr: string;
  soakMs: number;
}): GateExpression {
  const expression = parseGateExpression(gate.expr);
  if (!isMetricsPath(gate.path))
    throw new HealthError(HealthErrorCode.BAD_GATE, pathProblem(gate.path));
  if (!Number.isFinite(gate.soakMs) || gate.soakMs < 0)
    throw new HealthError(HealthErrorCode.BAD_GATE, 'the soak time must not be negative');
  return expression;
}

const pathProblem = (path: string) =>
  `metrics path ${JSON.stringify(path)} must be an absolute path of printable ASCII (at most 256 characters)`;

/**
 * `GET` a pod's metrics at `path` on its status port (scheme, host and TLS as its status check).
 * Only 2xx answers in Prometheus text format count.
 *
 * @throws HealthError `P2_HEALTH_INVALID_OPTIONS` for a path that is not absolute printable ASCII
 */
export async function scrapeMetrics(
  target: HealthTarget,
  path: string,
  options: ScrapeOptions = {},
): Promise<ScrapeResult> {
  if (!isMetricsPath(path))
    throw new HealthError(HealthErrorCode.INVALID_OPTIONS, pathProblem(path));
  if (!target.status) return { ok: false, reason: 'the pod has no status port to scrape' };
  const url = healthCheckUrl({ ...target, status: { ...target.status, path } })!;
  const answer = await requestBody(url, {
    timeoutMs: options.timeoutMs ?? 5000,
    verify: !target.status.localhostOnly,
    tls: options.tls,
    maxBodyBytes: options.maxBodyBytes ?? 4 * 1024 * 1024,
    signal: options.signal,
  });
  if (!answer.ok) return answer;
  if (answer.statusCode < 200 || answer.statusCode >= 300)
    return { ok: false, reason: `metrics answered HTTP ${answer.statusCode}` };
  try {
    return { ok: true, samples: parseMetricsText(answer.body.toString('utf8')) };
  } catch (error) {
    return { ok: false, reason: (error as HealthError).message };
  }
}

/** How {@link soakMetricGate} checks one pod. */
export interface SoakSettings {
  /** Path scraped on the pod's status port. */
  path: string;
  expression: GateExpression;
  /** How long the gate must hold from the first scrape that answers. */
  soakMs: number;
  /** Pause between scrapes. @default 1000 */
  intervalMs?: number;
  /** How long the pod has to answer its first scrape. @default 60000 */
  startupMs?: number;
  /** Scrapes in a row that may fail during the soak before the gate fails. @default 3 */
  maxFailedScrapes?: number;
  scrape?: ScrapeOptions;
}

/** The outcome of a soak. */
export type SoakVerdict =
  | { outcome: 'passed'; value: number }
  | { outcome: 'failed'; reason: string; value?: number }
  | { outcome: 'abandoned' };

const formatValue = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(4));

/**
 * Scrapes a pod until its gate has held for the soak time (`passed`), the gate does not hold on a
 * scrape (`failed` at once, with the value), the pod's metrics cannot be read (`failed`), or
 * `stillWanted` turns false (`abandoned`). The soak passes only when some scrape gave a value.
 *
 * @example
 * ```ts
 * const verdict = await soakMetricGate(healthTarget(manifest, 'h1'), {
 *   path: '/metrics', expression: parseGateExpression('errors_total / requests_total < 0.05'), soakMs: 30_000,
 * }, { stillWanted: () => true });
 * ```
 */
export async function soakMetricGate(
  target: HealthTarget,
  settings: SoakSettings,
  hooks: { stillWanted(): boolean; onSoaking?(): void },
): Promise<SoakVerdict> {
  const gate = new MetricGateEvaluator(settings.expression);
  const interval = settings.intervalMs ?? 1000;
  const text = settings.expression.text;
  const started = Date.now();
  let soakStarted: number | undefined;
  let last: number | undefined;
  let failedInARow = 0;
  for (;;) {
    if (!hooks.stillWanted()) return { outcome: 'abandoned' };
    const scrape = await scrapeMetrics(target, settings.path, settings.scrape);
    if (!scrape.ok) {
      failedInARow++;
      if (soakStarted === undefined && Date.now() - started >= (settings.startupMs ?? 60_000))
        return {
          outcome: 'failed',
          reason: `metrics at ${settings.path} did not answer within ${formatGoDuration((settings.startupMs ?? 60_000) * 1e6)} (${scrape.reason})`,
        };
      if (soakStarted !== undefined && failedInARow >= (settings.maxFailedScrapes ?? 3))
        return {
          outcome: 'failed',
          reason: `metrics at ${settings.path} stopped answering (${scrape.reason})`,
          ...(last === undefined ? {} : { value: last }),
        };
    } else {
      failedInARow = 0;
      const reading = gate.observe(scrape.samples);
      if (soakStarted === undefined) {
        soakStarted = Date.now();
        hooks.onSoaking?.();
      } else if (reading.value !== undefined) {
        last = reading.value;
        if (reading.holds === false)
          return {
            outcome: 'failed',
            reason: `${text} does not hold: the value is ${formatValue(reading.value)}`,
            value: reading.value,
          };
      }
    }
    const soaked = soakStarted === undefined ? -1 : Date.now() - soakStarted;
    if (soaked >= settings.soakMs && last !== undefined) return { outcome: 'passed', value: last };
    // Without a value at the end of the soak (a counter nobody moved), three more scrapes' grace.
    if (soaked >= settings.soakMs + 3 * interval)
      return {
        outcome: 'failed',
        reason: `no data for ${text} during the ${formatGoDuration(settings.soakMs * 1e6)} soak`,
      };
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
