/**
 * A preparer's side of metric-gated rolls against a real kv-server and a real HTTP "pod": the gate
 * is found through the pod's RC label and that RC's rolling update, the pod is soaked, and the
 * verdict lands at `status/gates/<node>/<pod>`. A hostile pod's answer never reaches the report.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  encodeRoll,
  GateReportStore,
  LabelStore,
  podLabelId,
  ROLL_DEFAULTS,
  rollKey,
} from '@p2/keyspace';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore, type TestStore } from '../../keyspace/src/test-support.js';
import { type GateRun, readPodGate, runPodGate, unfinishedGate } from './metric-gate.js';
import { podLabelsWithin } from './revert.js';

let t: TestStore;
let server: http.Server;
let answer: (res: http.ServerResponse) => void = (res) => res.end('');
let port = 0;
beforeAll(async () => {
  t = await startTestStore();
  server = http.createServer((_req, res) => answer(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t?.cleanup();
});
afterEach(() => {
  answer = (res) => res.end('');
});

const node = 'p2t-gate-n1';
const logs: string[] = [];
const logger = {
  info: (_o: object, m: string) => logs.push(m),
  warn: (_o: object, m: string) => logs.push(m),
};

function pod(id: string): Manifest {
  return new ManifestBuilder().setId(id).setStatusPort(port).setStatusHttp(true).build();
}

async function gatedBy(
  id: string,
  rc: string,
  gate: { path: string; expr: string; soakMs: number },
) {
  await new LabelStore(t.store).setLabel(
    'pod',
    podLabelId(node, id),
    'replication_controller_id',
    rc,
  );
  await t.store.put(
    rollKey(rc),
    encodeRoll({
      ...ROLL_DEFAULTS,
      oldRc: 'old',
      newRc: rc,
      desiredReplicas: 1,
      minimumReplicas: 0,
      metricGate: gate,
    }),
  );
}

const runWith = (wanted = () => true): GateRun => ({
  store: t.store,
  node,
  settings: { checkHost: '127.0.0.1', intervalMs: 50, startupMs: 500 },
  stillWanted: wanted,
  retryLater: () => undefined,
  logger,
});

describe('metric gates on the preparer', () => {
  it('finds the gate through the RC label; none without a label, a roll or a gate', async () => {
    expect(await readPodGate(t.store, undefined)).toBeUndefined();
    expect(await readPodGate(t.store, { replication_controller_id: 'rc-none' })).toBeUndefined();
    await gatedBy('p2t-g1', 'rc-g1', { path: '/metrics', expr: 'e_total < 1', soakMs: 100 });
    const labels = await podLabelsWithin(t.store, node, 'p2t-g1');
    expect(await readPodGate(t.store, labels)).toMatchObject({
      roll: 'rc-g1',
      gate: { path: '/metrics', expr: 'e_total < 1', soakMs: 100 },
      expression: { op: '<', threshold: 1 },
    });
  });

  it('soaks and reports passed; a gate that crosses its threshold reports failed with the value', async () => {
    let errors = 0;
    let requests = 0;
    let errorEach = 0;
    answer = (res) => {
      requests += 10;
      errors += errorEach;
      res.end(
        `# TYPE e_total counter\ne_total ${errors}\n# TYPE r_total counter\nr_total ${requests}\n`,
      );
    };
    await gatedBy('p2t-g2', 'rc-g2', {
      path: '/metrics',
      expr: 'e_total / r_total < 0.1',
      soakMs: 300,
    });
    const manifest = pod('p2t-g2');
    const gate = await readPodGate(t.store, await podLabelsWithin(t.store, node, 'p2t-g2'));
    const reports = new GateReportStore(t.store);
    expect(await runPodGate(runWith(), manifest, gate!)).toBe('passed');
    expect(await reports.get(node, 'p2t-g2')).toMatchObject({
      sha: manifest.sha(),
      roll: 'rc-g2',
      state: 'passed',
      value: 0,
    });
    errorEach = 4;
    expect(await runPodGate(runWith(), manifest, gate!)).toBe('failed');
    expect(await reports.get(node, 'p2t-g2')).toMatchObject({
      state: 'failed',
      reason: 'e_total / r_total < 0.1 does not hold: the value is 0.4000',
      value: 0.4,
    });
  });

  it("a hostile pod's answer (huge, not metrics, or an error page) fails the gate without reaching the report", async () => {
    await gatedBy('p2t-g3', 'rc-g3', { path: '/metrics', expr: 'e_total < 1', soakMs: 200 });
    const gate = await readPodGate(t.store, await podLabelsWithin(t.store, node, 'p2t-g3'));
    const reports = new GateReportStore(t.store);
    const hostile: Array<[(res: http.ServerResponse) => void, RegExp]> = [
      [
        (res) => res.end(`e_total{a="SECRET-TOKEN" 1\n`),
        /not Prometheus text format \(line 1\)\)$/,
      ],
      [
        (res) => res.end(`# ${'SECRET-TOKEN'.repeat(500_000)}\n`),
        /the answer is over 4194304 bytes\)$/,
      ],
      [
        (res) => {
          res.statusCode = 500;
          res.end('SECRET-TOKEN');
        },
        /metrics answered HTTP 500\)$/,
      ],
    ];
    for (const [respond, reason] of hostile) {
      answer = respond;
      expect(await runPodGate(runWith(), pod('p2t-g3'), gate!)).toBe('failed');
      const report = await reports.get(node, 'p2t-g3');
      expect(report?.reason).toMatch(/^metrics at \/metrics did not answer within 500ms \(/);
      expect(report?.reason).toMatch(reason);
      expect(JSON.stringify(report)).not.toContain('SECRET');
    }
  });

  it('an invalid gate is reported failed with why; an abandoned soak reports nothing final', async () => {
    await gatedBy('p2t-g4', 'rc-g4', { path: '/metrics', expr: 'e_total <', soakMs: 100 });
    const gate = await readPodGate(t.store, await podLabelsWithin(t.store, node, 'p2t-g4'));
    expect(gate).toMatchObject({
      roll: 'rc-g4',
      invalid: expect.stringContaining('expected a number'),
    });
    expect(await runPodGate(runWith(), pod('p2t-g4'), gate!)).toBe('failed');
    expect((await new GateReportStore(t.store).get(node, 'p2t-g4'))?.reason).toMatch(
      /^the metric gate is invalid: metric gate "e_total <": expected a number/,
    );

    answer = (res) => res.end('e_total 0\n');
    await gatedBy('p2t-g5', 'rc-g5', { path: '/metrics', expr: 'e_total < 1', soakMs: 60_000 });
    const g5 = await readPodGate(t.store, await podLabelsWithin(t.store, node, 'p2t-g5'));
    let checks = 0;
    expect(
      await runPodGate(
        runWith(() => ++checks < 4),
        pod('p2t-g5'),
        g5!,
      ),
    ).toBe('abandoned');
    // It got as far as soaking, and no verdict followed.
    expect((await new GateReportStore(t.store).get(node, 'p2t-g5'))?.state).toBe('soaking');
  });

  it('after a restart, a soak without a verdict on this manifest is run again; a decided one is not', async () => {
    const manifest = pod('p2t-g6');
    expect(await unfinishedGate(t.store, node, manifest)).toBeUndefined(); // no RC, no gate
    await gatedBy('p2t-g6', 'rc-g6', { path: '/metrics', expr: 'e_total < 1', soakMs: 100 });
    expect(await unfinishedGate(t.store, node, manifest)).toMatchObject({ roll: 'rc-g6' });
    const reports = new GateReportStore(t.store);
    const report = { sha: manifest.sha(), roll: 'rc-g6', updated: new Date().toISOString() };
    await reports.set(node, 'p2t-g6', { ...report, state: 'soaking' });
    expect(await unfinishedGate(t.store, node, manifest)).toMatchObject({ roll: 'rc-g6' });
    await reports.set(node, 'p2t-g6', { ...report, sha: 'f'.repeat(64), state: 'passed' });
    expect(await unfinishedGate(t.store, node, manifest)).toMatchObject({ roll: 'rc-g6' });
    await reports.set(node, 'p2t-g6', { ...report, state: 'failed' });
    expect(await unfinishedGate(t.store, node, manifest)).toBeUndefined();
  });
});
