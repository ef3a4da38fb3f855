import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test-support/host-test.js';
import { startOtlpReceiver } from '../../../test-support/otlp-receiver.js';
import { DeployTraceRecorder, exportOtlp } from './trace.js';

const SHA = `0123456789abcdef${'f'.repeat(48)}`;
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver.close());

describe('exportOtlp', () => {
  it('sends a deploy as OTLP/HTTP JSON spans: one trace per manifest SHA, steps under the deploy', async () => {
    const trace = new DeployTraceRecorder();
    trace.step('authorize', 2);
    trace.step('install', 30);
    trace.detail(
      {
        podHome: '/p',
        readOnly: false,
        configPath: '/c',
        launchables: [
          {
            launchableId: 'app',
            installDir: '/i',
            alreadyInstalled: false,
            timings: { fetchMs: 20, verifyMs: 4, extractMs: 6 },
          },
        ],
      },
      undefined,
    );
    trace.step('launch', 10, true);
    const logger = pino({ level: 'silent' });
    const deploy = {
      deployId: SHA,
      pod: 'p2t-web',
      node: 'p2t-h1',
      outcome: 'failed',
      spans: trace.spans,
    };
    await exportOtlp(
      { endpoint: `${receiver.endpoint}/`, node: 'p2t-h1', logger },
      deploy,
      trace.started,
    );

    const spans = receiver.spans;
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([SHA.slice(0, 32)]));
    const root = spans.find((s) => s.name === 'deploy p2t-web')!;
    expect(root.parentSpanId).toBeUndefined();
    expect(root).toMatchObject({
      status: { code: 2 },
      resource: { 'service.name': 'p2-preparer', 'host.name': 'p2t-h1' },
      attributes: { 'p2.deploy_id': SHA, 'p2.outcome': 'failed' },
    });
    const byName = new Map(spans.map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(
      [
        'authorize',
        'deploy p2t-web',
        'download app',
        'extract app',
        'install',
        'launch',
        'verify app',
      ].sort(),
    );
    expect(byName.get('install')?.parentSpanId).toBe(root.spanId);
    expect(byName.get('download app')?.parentSpanId).toBe(byName.get('install')?.spanId);
    expect(byName.get('launch')?.status).toEqual({ code: 2 });
    const d = byName.get('download app')!;
    expect(BigInt(d.endTimeUnixNano) - BigInt(d.startTimeUnixNano)).toBe(20_000_000n);
  });

  it('never fails the deploy when the receiver is down', async () => {
    const deploy = {
      deployId: SHA,
      pod: 'p2t-web',
      node: 'p2t-h1',
      outcome: 'deployed',
      spans: [],
    };
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    await expect(
      exportOtlp(
        { endpoint, node: 'p2t-h1', logger: pino({ level: 'silent' }) },
        deploy,
        Date.now(),
      ),
    ).resolves.toBeUndefined();
  });
});
