import { describe, expect, it } from 'vitest';
import { startStatusServer } from './status-server.js';

describe('status server', () => {
  it('serves /_status, /metrics and 404 over real HTTP', async () => {
    const server = await startStatusServer({
      port: 0,
      metrics: () => 'm_total 1\n',
      summary: () => ({ pods: 2 }),
    });
    try {
      const status = await fetch(`${server.url}/_status`);
      expect(status.status).toBe(200);
      expect(await status.text()).toBe('p2-preparer OK');
      const json = await fetch(`${server.url}/_status`, {
        headers: { accept: 'application/json' },
      });
      expect(await json.json()).toEqual({ status: 'ok', pods: 2 });
      const metrics = await fetch(`${server.url}/metrics`);
      expect(await metrics.text()).toBe('m_total 1\n');
      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
