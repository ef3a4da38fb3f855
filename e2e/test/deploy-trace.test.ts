/**
 * One trace per deploy (issue 21) through the built `p2` and a real p2-preparer process configured
 * with `tracing.otlp_endpoint`: v1 then v2 of the hello app; `p2 trace POD` shows v2's deploy with
 * every step as a waterfall and as `--json`, and a real OTLP/HTTP receiver (started by the test)
 * received the same steps as spans of one trace whose id comes from the manifest SHA. Needs root.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../../test-support/otlp-receiver.js';
import { freePort, waitFor } from '../src/processes.js';
import { type TestHost, type TestHostOptions, withTestHost } from '../src/test-host.js';

let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
const options: TestHostOptions = { extraConfig: [] };
// Registered before the host's own beforeAll: the receiver's address goes into its config.
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  options.extraConfig?.push(`  tracing: {otlp_endpoint: '${receiver.endpoint}'}`);
});
afterAll(() => receiver?.close());
let h: TestHost;
const { p2, host } = withTestHost(options);
beforeAll(() => {
  h = host();
});

const STEPS = [
  'authorize',
  'install',
  'download app',
  'verify app',
  'extract app',
  'halt_previous',
  'launch',
  'start',
  'enable',
  'write_reality',
  'healthy',
];

describe('p2 trace with a real preparer and a real OTLP receiver', () => {
  it("shows every step of a deploy, and exports them as one trace's spans", async () => {
    const pod = h.podId('t');
    const port = await freePort();
    const file = join(h.work, `${pod}.yaml`);
    await writeFile(file, h.manifest(pod, h.v1, port, 'one').raw);
    expect(
      (await p2(['schedule', file, '--node', h.node, '--force', '--wait'], 150_000)).code,
    ).toBe(0);
    const v2 = h.manifest(pod, h.v2, port, 'two');
    await writeFile(file, v2.raw);
    expect(
      (await p2(['schedule', file, '--node', h.node, '--force', '--wait'], 150_000)).code,
    ).toBe(0);

    // The healthy step is recorded once the new version passed its check.
    const json = await waitFor('the trace with its healthy step', async () => {
      const r = await p2(['trace', pod, '--json']);
      const parsed = r.code === 0 ? JSON.parse(r.out) : undefined;
      return parsed?.hosts[0]?.outcome === 'healthy' ? parsed : undefined;
    });
    expect(json.deployId).toBe(v2.sha());
    expect(json.hosts).toHaveLength(1);
    expect(json.hosts[0]).toMatchObject({ node: h.node, pod, outcome: 'healthy' });
    const names = json.hosts[0].spans.map((s: { name: string }) => s.name);
    for (const step of STEPS) expect(names).toContain(step);
    for (const s of json.hosts[0].spans) {
      expect(Number.isNaN(Date.parse(s.start))).toBe(false);
      expect(s.ms).toBeGreaterThanOrEqual(0);
    }

    const text = await p2(['trace', v2.sha().slice(0, 12)]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`deploy ${v2.sha().slice(0, 12)}: 1 host(s)`);
    expect(text.out).toMatch(/^ {2}authorize +\|█/m);
    expect(text.out).toMatch(/^ {4}download app +\|/m);
    expect((await p2(['trace', 'p2t-no-such-pod'])).code).toBe(4);

    const spans = await waitFor('spans at the receiver', async () => {
      const mine = receiver.spans.filter((s) => s.traceId === v2.sha().slice(0, 32));
      return mine.some((s) => s.name === 'healthy') ? mine : undefined;
    });
    const received = spans.map((s) => s.name);
    for (const step of STEPS) expect(received).toContain(step);
    expect(received).toContain(`deploy ${pod}`);
    expect(spans[0]?.resource).toMatchObject({ 'host.name': h.node });
  });
});
