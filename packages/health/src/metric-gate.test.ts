import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthError } from './errors.js';
import {
  MetricGateEvaluator,
  parseGateExpression,
  parseMetricsText,
  scrapeMetrics,
  soakMetricGate,
} from './metric-gate.js';

describe('parseGateExpression', () => {
  it('reads a ratio, labels, a quantile and each operator', () => {
    const g = parseGateExpression(
      ' errors_total{code="500", route="/a,b"} / requests_total >= 1e-2 ',
    );
    expect(g).toMatchObject({
      numerator: {
        kind: 'series',
        series: { name: 'errors_total', labels: { code: '500', route: '/a,b' } },
      },
      denominator: { kind: 'series', series: { name: 'requests_total', labels: {} } },
      op: '>=',
      threshold: 0.01,
    });
    const q = parseGateExpression('histogram_quantile(0.99, latency_seconds{job="web"}) < 0.25');
    expect(q.numerator).toEqual({
      kind: 'quantile',
      quantile: 0.99,
      series: { name: 'latency_seconds', labels: { job: 'web' } },
    });
    for (const op of ['<', '<=', '>', '>=']) expect(parseGateExpression(`up ${op} 1`).op).toBe(op);
  });

  it.each([
    ['', 'a metric name'],
    ['errors_total', 'one of < <= > >='],
    ['errors_total < x', 'a number'],
    ['errors_total{code!="5"} < 1', '"="'],
    ['errors_total{code=5} < 1', 'a quoted label value'],
    ['histogram_quantile(2, x) < 1', 'a quantile'],
    ['a < 1 b', 'the end of the expression'],
  ])('refuses %j with the column and what was expected', (text, expected) => {
    let error: unknown;
    try {
      parseGateExpression(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HealthError);
    expect((error as HealthError).code).toBe('P2_HEALTH_BAD_GATE');
    expect((error as HealthError).message).toContain(expected);
  });
});

describe('parseMetricsText', () => {
  it('flattens counters, gauges, histograms and summaries; counters are marked', () => {
    const samples = parseMetricsText(
      [
        '# TYPE req counter',
        'req{code="200"} 10',
        '# TYPE temp gauge',
        'temp 21.5',
        'untyped_total 3',
        'untyped 4',
        '# TYPE lat histogram',
        'lat_bucket{le="0.1"} 1',
        'lat_bucket{le="+Inf"} 2',
        'lat_count 2',
        'lat_sum 0.3',
        '# TYPE rpc summary',
        'rpc{quantile="0.99"} 0.7',
        'rpc_count 5',
        'rpc_sum 1',
        'bad NaN',
      ].join('\n'),
    );
    const by = (name: string) => samples.filter((s) => s.name === name);
    expect(by('req')).toEqual([{ name: 'req', labels: { code: '200' }, value: 10, counter: true }]);
    expect(by('temp')[0]?.counter).toBe(false);
    expect(by('untyped_total')[0]?.counter).toBe(true);
    expect(by('untyped')[0]?.counter).toBe(false);
    expect(by('lat_bucket').map((s) => [s.labels.le, s.value, s.counter])).toEqual([
      ['0.1', 1, true],
      ['+Inf', 2, true],
    ]);
    expect(by('rpc')).toEqual([
      { name: 'rpc', labels: { quantile: '0.99' }, value: 0.7, counter: false },
    ]);
    expect(by('rpc_count')[0]?.counter).toBe(true);
    expect(by('bad')).toEqual([]);
  });

  it('refuses text that does not parse without quoting it', () => {
    expect(() => parseMetricsText('x{a="secret" 2\n')).toThrow(
      /^the metrics answer is not Prometheus text format \(line 1\)$/,
    );
  });
});

describe('MetricGateEvaluator', () => {
  const scrape = (text: string) => parseMetricsText(text);

  it('judges a ratio of counter increases since the baseline, new series counting from 0', () => {
    const gate = new MetricGateEvaluator(
      parseGateExpression('errors_total / requests_total < 0.05'),
    );
    expect(gate.observe(scrape('errors_total{code="500"} 90\nrequests_total 100\n'))).toEqual({});
    // 100 more requests, 2 more errors: the 90 before the baseline do not count.
    expect(gate.observe(scrape('errors_total{code="500"} 92\nrequests_total 200\n'))).toEqual({
      value: 0.02,
      holds: true,
    });
    // A series that appears after the baseline counts in full.
    const r = gate.observe(
      scrape('errors_total{code="500"} 92\nerrors_total{code="503"} 8\nrequests_total 200\n'),
    );
    expect(r).toEqual({ value: 0.1, holds: false });
  });

  it('treats a counter reset as counting from 0, and a zero denominator as no data', () => {
    const gate = new MetricGateEvaluator(parseGateExpression('e_total / r_total <= 0.5'));
    gate.observe(scrape('e_total 5\nr_total 50\n'));
    expect(gate.observe(scrape('e_total 5\nr_total 50\n'))).toEqual({});
    expect(gate.observe(scrape('e_total 1\nr_total 4\n'))).toEqual({ value: 0.25, holds: true });
  });

  it('reads a gauge as its current value, and no series as no data', () => {
    const gate = new MetricGateEvaluator(parseGateExpression('queue{q="a"} > 2'));
    gate.observe(scrape('queue{q="a"} 1\n'));
    expect(gate.observe(scrape('queue{q="a"} 3\nqueue{q="b"} 100\n'))).toEqual({
      value: 3,
      holds: true,
    });
    expect(gate.observe(scrape('other 1\n'))).toEqual({});
  });

  it('computes histogram_quantile over the buckets added since the baseline', () => {
    const gate = new MetricGateEvaluator(
      parseGateExpression('histogram_quantile(0.9, lat{route="/"}) < 0.25'),
    );
    const hist = (a: number, b: number, inf: number) =>
      scrape(
        `# TYPE lat histogram\nlat_bucket{route="/",le="0.1"} ${a}\nlat_bucket{route="/",le="0.5"} ${b}\nlat_bucket{route="/",le="+Inf"} ${inf}\nlat_count{route="/"} ${inf}\nlat_sum{route="/"} 1\n`,
      );
    gate.observe(hist(1000, 1000, 1000));
    // 100 new requests: 50 under 0.1 s, 50 between 0.1 and 0.5 s. The 90th is 0.1 + 0.4 × 40/50.
    const r = gate.observe(hist(1050, 1100, 1100));
    expect(r.value).toBeCloseTo(0.42, 5);
    expect(r.holds).toBe(false);
  });
});

describe('scrapeMetrics and soakMetricGate against a real HTTP server', () => {
  let server: http.Server | undefined;
  afterEach(
    () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
  );

  async function serve(handler: http.RequestListener): Promise<number> {
    server = http.createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  const target = (port: number) => ({
    podId: 'p2t-web',
    host: '127.0.0.1',
    status: { port, path: '/_status', scheme: 'http' as const, localhostOnly: false },
  });

  it('reads 2xx text; names a non-2xx status, an oversized body and a bad path', async () => {
    let answer = { code: 200, body: 'up 1\n' };
    const port = await serve((req, res) => {
      res.statusCode = req.url === '/metrics' ? answer.code : 404;
      res.end(answer.body);
    });
    expect(await scrapeMetrics(target(port), '/metrics')).toEqual({
      ok: true,
      samples: [{ name: 'up', labels: {}, value: 1, counter: false }],
    });
    answer = { code: 500, body: 'secret' };
    expect(await scrapeMetrics(target(port), '/metrics')).toEqual({
      ok: false,
      reason: 'metrics answered HTTP 500',
    });
    answer = { code: 200, body: `# ${'x'.repeat(2000)}\nx{a="secret" 2\n` };
    const big = await scrapeMetrics(target(port), '/metrics', { maxBodyBytes: 1000 });
    expect(big).toEqual({ ok: false, reason: 'the answer is over 1000 bytes' });
    const bad = await scrapeMetrics(target(port), '/metrics');
    expect(bad.ok).toBe(false);
    expect(JSON.stringify(bad)).not.toContain('secret');
    await expect(scrapeMetrics(target(port), 'metrics')).rejects.toThrow(/absolute path/);
  });

  it('passes after the soak, fails at once when the gate breaks, and fails a pod that never answers', async () => {
    let errors = 0;
    let requests = 0;
    let broken = false;
    const port = await serve((_req, res) => {
      requests += 10;
      if (broken) errors += 5;
      res.end(
        `# TYPE e_total counter\ne_total ${errors}\n# TYPE r_total counter\nr_total ${requests}\n`,
      );
    });
    const expression = parseGateExpression('e_total / r_total < 0.1');
    let soaking = 0;
    const settings = { path: '/metrics', expression, soakMs: 300, intervalMs: 50 };
    const passed = await soakMetricGate(target(port), settings, {
      stillWanted: () => true,
      onSoaking: () => soaking++,
    });
    expect(passed).toEqual({ outcome: 'passed', value: 0 });
    expect(soaking).toBe(1);

    broken = true;
    const failed = await soakMetricGate(target(port), settings, { stillWanted: () => true });
    expect(failed).toEqual({
      outcome: 'failed',
      reason: 'e_total / r_total < 0.1 does not hold: the value is 0.5000',
      value: 0.5,
    });

    let wanted = 1;
    expect(
      await soakMetricGate(target(port), settings, { stillWanted: () => wanted-- > 0 }),
    ).toEqual({ outcome: 'abandoned' });

    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const dead = await soakMetricGate(
      target(port),
      { ...settings, startupMs: 200 },
      { stillWanted: () => true },
    );
    expect(dead.outcome).toBe('failed');
    expect((dead as { reason: string }).reason).toMatch(
      /^metrics at \/metrics did not answer within 200ms \(connection refused\)$/,
    );
  });

  it('fails a soak that never had data', async () => {
    const port = await serve((_req, res) => res.end('e_total 0\nr_total 0\n'));
    const verdict = await soakMetricGate(
      target(port),
      {
        path: '/metrics',
        expression: parseGateExpression('e_total / r_total < 0.1'),
        soakMs: 100,
        intervalMs: 20,
      },
      { stillWanted: () => true },
    );
    expect(verdict).toEqual({
      outcome: 'failed',
      reason: 'no data for e_total / r_total < 0.1 during the 100ms soak',
    });
  });
});
