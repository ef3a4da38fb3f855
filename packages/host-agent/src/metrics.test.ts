import { describe, expect, it } from 'vitest';
import { PreparerMetrics } from './metrics.js';

describe('PreparerMetrics (prom-client)', () => {
  it('renders counters, the step histogram and pods by state in Prometheus text format', async () => {
    const m = new PreparerMetrics({ processMetrics: false });
    m.deploys.inc({ result: 'success' });
    m.deploys.inc({ result: 'success' });
    m.deploys.inc({ result: 'fail"ure' });
    m.stepSeconds.observe({ step: 'install' }, 0.5);
    m.stepSeconds.observe({ step: 'install' }, 2);
    m.setPodsByState(new Map([['running', 3]]));
    const text = await m.render();
    expect(text).toContain('# TYPE p2_preparer_deploys_total counter');
    expect(text).toContain('p2_preparer_deploys_total{result="success"} 2');
    expect(text).toContain('p2_preparer_deploys_total{result="fail\\"ure"} 1');
    expect(text).toContain('p2_preparer_step_duration_seconds_bucket{le="0.1",step="install"} 0');
    expect(text).toContain('p2_preparer_step_duration_seconds_bucket{le="1",step="install"} 1');
    expect(text).toContain('p2_preparer_step_duration_seconds_bucket{le="+Inf",step="install"} 2');
    expect(text).toContain('p2_preparer_step_duration_seconds_sum{step="install"} 2.5');
    expect(text).toContain('p2_preparer_pods{state="running"} 3');
    expect(m.contentType).toContain('text/plain');
  });

  it('replaces pods by state as a whole: a state with no pods left disappears', async () => {
    const m = new PreparerMetrics({ processMetrics: false });
    m.setPodsByState(
      new Map([
        ['running', 2],
        ['failed', 1],
      ]),
    );
    m.setPodsByState(new Map([['running', 3]]));
    const text = await m.render();
    expect(text).toContain('p2_preparer_pods{state="running"} 3');
    expect(text).not.toContain('state="failed"');
  });

  it('adds prom-client’s process metrics under the preparer prefix, per registry', async () => {
    const a = new PreparerMetrics();
    const b = new PreparerMetrics(); // a second registry must not clash with the first
    for (const text of [await a.render(), await b.render()]) {
      expect(text).toContain('p2_preparer_process_resident_memory_bytes');
      expect(text).toContain('p2_preparer_nodejs_eventloop_lag_seconds');
    }
  });
});
