/**
 * The farms' metrics and alerts against a real kv-server and real HTTP servers on loopback: the
 * exposition after real reconciles, the PagerDuty event of a real alert (retried after a 500), and
 * farms that keep working while the alert receiver never answers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabelStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { RollStore } from '@p2/roll';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  eventually,
  manifestText,
  simulatePreparers,
} from '../../controller-kit/src/test-support.js';
import { WebhookAlerter } from './alerts.js';
import { startControllerFarms } from './controller-farms.js';
import { ControllerMetrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';

const ROUTING_KEY = 'p2t-routing-key-0123456789abcdef';
let dir: string;
let server: KvServer;
let store: Store;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-farms-obs-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0, sessionTtlMinMs: 1_000 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** One sample's value from an exposition (undefined when absent). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A webhook receiver on loopback: records each request's body; `answer` decides the response. */
async function receiver(
  answer: (n: number, req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; bodies: unknown[]; server: Server }> {
  const bodies: unknown[] = [];
  const http = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      answer(bodies.length, req, res);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/v2/enqueue`,
    bodies,
    server: http,
  };
}

function captureLogs(): { logger: pino.Logger; text: () => string } {
  const lines: string[] = [];
  return {
    logger: pino({ level: 'debug' }, { write: (line: string) => lines.push(line) }),
    text: () => lines.join(''),
  };
}

describe('metrics', () => {
  it('serves reconciles, placements, unschedules and locks held after real RC passes', async () => {
    await new LabelStore(store).setLabels('node', 'p2t-n1', { role: 'web' });
    await new LabelStore(store).setLabels('node', 'p2t-n2', { role: 'web' });
    const rcs = new RcStore(store);
    const rc = await rcs.create({
      manifest: parseManifest(manifestText('p2t-web')),
      nodeSelector: 'role=web',
      replicasDesired: 2,
    });
    const metrics = new ControllerMetrics();
    const running = startControllerFarms({ store, farms: ['rc', 'ds'], resyncMs: 300, metrics });
    cleanups.push(() => running.stop());
    const http = await startMetricsServer(metrics, { port: 0 });
    cleanups.push(() => http.close());
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const scrape = async () => {
      const response = await fetch(`${http.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return response.text();
    };
    const success = 'p2_controllers_reconciles_total{farm="rc",outcome="success"}';
    await eventually(async () => (sample(await scrape(), success) ?? 0) >= 1);
    let text = await scrape();
    expect(sample(text, 'p2_controllers_placements_total{farm="rc"}')).toBe(2);
    expect(sample(text, 'p2_controllers_locks_held{farm="rc"}')).toBe(1);
    expect(sample(text, 'p2_controllers_locks_held{farm="ds"}')).toBe(0);
    expect(sample(text, 'p2_controllers_unschedules_total{farm="rc"}')).toBeUndefined();
    expect(text).toContain('p2_controllers_process_cpu_seconds_total');

    await rcs.mutate(rc.id, (r) => ({ ...r, replicasDesired: 1 }));
    await eventually(
      async () => sample(await scrape(), 'p2_controllers_unschedules_total{farm="rc"}') === 1,
    );
    text = await scrape();
    expect(sample(text, success)).toBeGreaterThanOrEqual(2);
    expect((await fetch(`${http.url}/other`)).status).toBe(404);

    await running.stop();
    expect(sample(await scrape(), 'p2_controllers_locks_held{farm="rc"}')).toBe(0);
  });

  it("shows a rolling update's progress while it runs and forgets it when it ends", async () => {
    for (const n of ['p2t-r1', 'p2t-r2'])
      await new LabelStore(store).setLabel('node', n, 'fleet', 'r');
    // Preparers on real records; v2 never becomes healthy, so the update blocks mid-way.
    const sim = simulatePreparers(store, {
      healthOf: (m) => (m.includes('_v2.') ? 'critical' : 'passing'),
    });
    cleanups.push(() => sim.stop());
    const rcs = new RcStore(store);
    const old = await rcs.create({
      manifest: parseManifest(manifestText('p2t-roll', 'v1')),
      nodeSelector: 'fleet=r',
      replicasDesired: 2,
      clusterName: 'c1',
    });
    const next = await rcs.create({
      manifest: parseManifest(manifestText('p2t-roll', 'v2')),
      nodeSelector: 'fleet=r',
      disabled: true,
    });
    const metrics = new ControllerMetrics({ processMetrics: false });
    const running = startControllerFarms({
      store,
      farms: ['rc', 'roll'],
      resyncMs: 200,
      rollPollMs: 100,
      metrics,
    });
    cleanups.push(() => running.stop());
    const rolls = new RollStore(store);
    await rolls.create({ oldRc: old.id, newRc: next.id, desiredReplicas: 2, minimumReplicas: 1 });
    const desired = `p2_controllers_roll_new_desired{roll="${next.id}"}`;
    await eventually(async () => (sample(await metrics.render(), desired) ?? 0) >= 1);
    expect(
      sample(await metrics.render(), `p2_controllers_roll_new_healthy{roll="${next.id}"}`),
    ).toBe(0);
    expect(sample(await metrics.render(), 'p2_controllers_locks_held{farm="roll"}')).toBe(1);
    await rolls.cancel(next.id);
    // The run ends `cancelled`, or `interrupted` when the farm sees the record go first.
    const ended = (text: string) =>
      (sample(text, 'p2_controllers_reconciles_total{farm="roll",outcome="cancelled"}') ?? 0) +
      (sample(text, 'p2_controllers_reconciles_total{farm="roll",outcome="interrupted"}') ?? 0);
    await eventually(async () => ended(await metrics.render()) === 1);
    expect(sample(await metrics.render(), desired)).toBeUndefined();
  });
});

describe('alerts to a webhook', () => {
  it("sends the RC farm's no_rcs_found alert as a PagerDuty event, retrying after a 500", async () => {
    const hook = await receiver((n, _req, res) => {
      res.writeHead(n === 1 ? 500 : 202, { 'content-type': 'application/json' });
      res.end(n === 1 ? '{"status":"error"}' : '{"status":"success"}');
    });
    const metrics = new ControllerMetrics({ processMetrics: false });
    const logs = captureLogs();
    const alerter = new WebhookAlerter({
      url: hook.url,
      routingKey: ROUTING_KEY,
      source: 'p2t-controllers',
      backoffMs: 20,
      metrics,
      logger: logs.logger,
    });
    cleanups.push(() => alerter.close());
    // An empty store: the RC farm's failsafe raises a high-urgency alert.
    const running = startControllerFarms({
      store,
      farms: ['rc'],
      metrics,
      logger: logs.logger,
      onAlert: (alert) => alerter.send(alert),
    });
    cleanups.push(() => running.stop());
    await eventually(async () => {
      const text = await metrics.render();
      return sample(text, 'p2_controllers_alert_deliveries_total{result="sent"}') === 1;
    });
    expect(hook.bodies.length).toBeGreaterThanOrEqual(2);
    const expected = {
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'no_rcs_found',
      client: 'p2-controllers',
      payload: {
        summary: expect.stringContaining('found no replication controllers'),
        source: 'p2t-controllers',
        severity: 'critical',
      },
    };
    // The first attempt got a 500; the retry carries the same event.
    expect(hook.bodies[0]).toEqual(expected);
    expect(hook.bodies[1]).toEqual(expected);
    const text = await metrics.render();
    expect(sample(text, 'p2_controllers_alerts_total{urgency="high"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'p2_controllers_alert_deliveries_total{result="failed"}')).toBeUndefined();
    // Still logged as before, and the routing key never is.
    expect(logs.text()).toContain('"alert":"no_rcs_found"');
    expect(logs.text()).not.toContain(ROUTING_KEY);
  });

  it('keeps the farms working while the receiver never answers; drops are counted', async () => {
    let held = 0;
    // Takes each request and never answers it.
    const hook = await receiver(() => {
      held++;
    });
    await new LabelStore(store).setLabels('node', 'p2t-n1', { role: 'web' });
    const rcs = new RcStore(store);
    // Two replicas wanted, one eligible node: every pass raises a low-urgency "not enough nodes".
    await rcs.create({
      manifest: parseManifest(manifestText('p2t-short')),
      nodeSelector: 'role=web',
      replicasDesired: 2,
    });
    const metrics = new ControllerMetrics({ processMetrics: false });
    const logs = captureLogs();
    const alerter = new WebhookAlerter({
      url: hook.url,
      routingKey: ROUTING_KEY,
      queueSize: 2,
      timeoutMs: 600_000,
      metrics,
      logger: logs.logger,
    });
    const running = startControllerFarms({
      store,
      farms: ['rc'],
      resyncMs: 100,
      metrics,
      logger: logs.logger,
      onAlert: (alert) => alerter.send(alert),
    });
    cleanups.push(() => running.stop());
    const dropped = 'p2_controllers_alert_deliveries_total{result="dropped"}';
    await eventually(async () => (sample(await metrics.render(), dropped) ?? 0) >= 3);
    // The farm still places a new RC's pod while the alert in flight hangs.
    await rcs.create({
      manifest: parseManifest(manifestText('p2t-web')),
      nodeSelector: 'role=web',
      replicasDesired: 1,
    });
    await eventually(async () => (await store.get('intent/p2t-n1/p2t-web')).value !== undefined);
    expect(held).toBe(1);
    expect(hook.bodies[0]).toMatchObject({
      dedup_key: expect.any(String),
      payload: { severity: 'warning', custom_details: { pod_id: 'p2t-short' } },
    });
    expect(alerter.pending).toBe(2);
    // Closing abandons the hung attempt instead of waiting for it.
    await alerter.close();
    expect(alerter.pending).toBe(0);
    expect(logs.text()).not.toContain(ROUTING_KEY);
  });
});
