import { PodEventStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore } from './test-support.js';
import { deployTrace, renderWaterfall } from './trace.js';

const SHA = `abcdef${'1'.repeat(58)}`;
const OLD = `123456${'2'.repeat(58)}`;
let store: Store;
let cleanup: () => Promise<void>;

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();

beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
  const events = new PodEventStore(store);
  const steps = (offset: number, failLast = false) => [
    { name: 'authorize', start: at(offset), ms: 5 },
    { name: 'install', start: at(offset + 5), ms: 300 },
    { name: 'download app', start: at(offset + 5), ms: 250, parent: 'install' },
    { name: 'launch', start: at(offset + 305), ms: 50, ...(failLast ? { failed: true } : {}) },
  ];
  await events.append('p2t-h1', 'p2t-web', [
    { time: at(0), type: 'deployed', sha: OLD, deployId: OLD, spans: steps(0) },
    { time: at(1000), type: 'deployed', sha: SHA, deployId: SHA, spans: steps(1000) },
    {
      time: at(2000),
      type: 'health',
      to: 'passing',
      deployId: SHA,
      spans: [{ name: 'healthy', start: at(1355), ms: 600 }],
    },
  ]);
  await events.append('p2t-h2', 'p2t-web', [
    { time: at(1500), type: 'deployed', sha: SHA, deployId: SHA, spans: steps(1200) },
    {
      time: at(9000),
      type: 'reverted',
      sha: SHA,
      deployId: SHA,
      spans: [
        { name: 'healthy', start: at(1555), ms: 4000, failed: true },
        { name: 'revert', start: at(5555), ms: 300 },
      ],
    },
  ]);
  await events.append('p2t-h3', 'p2t-web', [
    { time: at(1600), type: 'deploy-failed', sha: SHA, deployId: SHA, spans: steps(1300, true) },
  ]);
});
afterAll(() => cleanup());

describe('deployTrace', () => {
  it("joins every host's steps of one deploy, by SHA prefix or by pod (its latest deploy)", async () => {
    const byId = await deployTrace(store, 'abcdef');
    expect(await deployTrace(store, 'p2t-web')).toEqual(byId);
    expect(byId).toMatchObject({ deployId: SHA, start: at(1000), end: at(5855) });
    expect(byId?.hosts.map((h) => [h.node, h.outcome])).toEqual([
      ['p2t-h1', 'healthy'],
      ['p2t-h2', 'reverted'],
      ['p2t-h3', 'failed'],
    ]);
    expect(byId?.hosts[0]?.spans.map((s) => s.name)).toEqual([
      'authorize',
      'install',
      'download app',
      'launch',
      'healthy',
    ]);
    expect((await deployTrace(store, '123456'))?.hosts.map((h) => h.node)).toEqual(['p2t-h1']);
    expect(await deployTrace(store, 'p2t-none')).toBeUndefined();
  });

  it('renders a waterfall on one time axis, failed steps marked', async () => {
    const text = renderWaterfall((await deployTrace(store, SHA))!, 20);
    const lines = text.split('\n');
    expect(lines[0]).toBe(`deploy abcdef111111: 3 host(s), ${at(1000)}, 4.9s`);
    expect(lines).toContain('p2t-h2 p2t-web: reverted');
    // The first step of the first host starts at column 0; h2's revert is late on the axis.
    expect(text).toMatch(/^ {2}authorize +\|█ {19}\| +5ms$/m);
    expect(text).toMatch(/^ {2}healthy +\| +█+ *\| +4\.0s !$/m);
    expect(text).toMatch(/^ {4}download app +\|/m);
  });
});
