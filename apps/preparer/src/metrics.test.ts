import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, PreparerMetrics } from './metrics.js';

describe('metrics', () => {
  it('renders counters, gauges and histograms in Prometheus text format', () => {
    const c = new Counter('c_total', 'a counter');
    c.inc({ result: 'success' });
    c.inc({ result: 'success' });
    c.inc({ result: 'fail"ure' });
    expect(c.render()).toBe(
      '# HELP c_total a counter\n# TYPE c_total counter\nc_total{result="success"} 2\nc_total{result="fail\\"ure"} 1',
    );
    const g = new Gauge('g', 'a gauge');
    g.replace([[{ state: 'running' }, 3]]);
    expect(g.render()).toContain('g{state="running"} 3');
    const h = new Histogram('h_seconds', 'a histogram', [0.1, 1]);
    h.observe({ step: 'install' }, 0.5);
    h.observe({ step: 'install' }, 2);
    const text = h.render();
    expect(text).toContain('h_seconds_bucket{le="0.1",step="install"} 0');
    expect(text).toContain('h_seconds_bucket{le="1",step="install"} 1');
    expect(text).toContain('h_seconds_bucket{le="+Inf",step="install"} 2');
    expect(text).toContain('h_seconds_sum{step="install"} 2.5');
  });

  it('the preparer registry renders every metric', () => {
    const m = new PreparerMetrics();
    m.deploys.inc({ result: 'success' });
    const text = m.render();
    for (const name of [
      'p2_preparer_deploys_total',
      'p2_preparer_step_duration_seconds',
      'p2_preparer_pods',
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
  });
});
