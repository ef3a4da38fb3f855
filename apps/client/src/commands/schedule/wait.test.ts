/**
 * `p2 schedule --wait` / `p2 unschedule --wait` against a real store: reality, the preparer's status
 * record and the health record are written here as the preparer and health checker write them.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { HealthStore, PodTree, PreparerStatusStore } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const WEB = 'id: p2t-wait\nconfig:\n  v: 1\n';
const CHECKED = 'id: p2t-waitchk\nstatus:\n  port: 8123\n';

beforeAll(async () => {
  h = await startHarness('schedule-wait');
  await writeFile(join(h.dir, 'web.yaml'), WEB);
  await writeFile(join(h.dir, 'checked.yaml'), CHECKED);
});
afterAll(async () => {
  await h?.close();
});

/** Resolves once intent/<node>/<pod> exists. */
async function intended(node: string, pod: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await h.store.get(`intent/${node}/${pod}`)).value) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`intent/${node}/${pod} never appeared`);
}

const status = (
  pod: string,
  state: 'running' | 'failed' | 'unauthorized',
  sha: string,
  error?: string,
) => ({
  pod,
  uniqueKey: '',
  state,
  sha,
  ...(error ? { error } : {}),
  updated: new Date().toISOString(),
});

describe('p2 schedule --wait', () => {
  it('returns 0 once reality matches and the preparer says running; prints one line per change when piped', async () => {
    const manifest = parseManifest(WEB);
    const waiting = h.p2([
      'schedule',
      'web.yaml',
      '--node',
      'w1',
      '--force',
      '--wait',
      '--timeout',
      '60s',
    ]);
    await intended('w1', 'p2t-wait');
    await new PreparerStatusStore(h.store).publish('w1', status('p2t-wait', 'running', 'old'));
    await new PodTree(h.store, 'reality').setPod('w1', manifest);
    await new PreparerStatusStore(h.store).publish(
      'w1',
      status('p2t-wait', 'running', manifest.sha()),
    );
    const r = await waiting;
    expect(r.code).toBe(ExitCode.OK);
    expect(r.err).toContain('p2t-wait on w1: converged, preparer running');
    expect(r.err).not.toContain('\r');
  });

  it('waits for health when the pod has a status port', async () => {
    const manifest = parseManifest(CHECKED);
    const waiting = h.p2([
      'schedule',
      'checked.yaml',
      '--node',
      'w1',
      '--force',
      '--wait',
      '--json',
    ]);
    await intended('w1', 'p2t-waitchk');
    await new PodTree(h.store, 'reality').setPod('w1', manifest);
    await new PreparerStatusStore(h.store).publish(
      'w1',
      status('p2t-waitchk', 'running', manifest.sha()),
    );
    await new HealthStore(h.store).put({
      podId: 'p2t-waitchk',
      node: 'w1',
      status: 'critical',
      time: new Date(),
    });
    await new HealthStore(h.store).put({
      podId: 'p2t-waitchk',
      node: 'w1',
      status: 'passing',
      time: new Date(),
    });
    const r = await waiting;
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.out).podId).toBe('p2t-waitchk');
  });

  it('exits 1 naming the preparer reason when it refuses the pod', async () => {
    const waiting = h.p2(['schedule', 'web.yaml', '--node', 'w2', '--force', '--wait']);
    await intended('w2', 'p2t-wait');
    const sha = parseManifest(WEB).sha();
    await new PreparerStatusStore(h.store).publish(
      'w2',
      status('p2t-wait', 'unauthorized', sha, 'not signed by an authorized key'),
    );
    const r = await waiting;
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toContain('p2t-wait on w2: unauthorized: not signed by an authorized key');
  });

  it('exits 6 (TIMEOUT) when the preparer never answers, and redraws one line on a TTY', async () => {
    const r = await h.p2(['schedule', 'web.yaml', '--node', 'w3', '--force', '--timeout', '1s'], {
      isTTY: true,
    });
    expect(r.code).toBe(ExitCode.TIMEOUT);
    expect(r.err).toContain('\r\u001b[2Kp2t-wait on w3: pending, preparer has not reported');
    expect(r.err).toContain('timed out');
  });

  it('refuses a bad --timeout before writing anything', async () => {
    const r = await h.p2(['schedule', 'web.yaml', '--node', 'w4', '--force', '--timeout', 'soon']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect((await h.store.get('intent/w4/p2t-wait')).value).toBeUndefined();
  });
});

describe('p2 unschedule --wait', () => {
  it('returns 0 once intent and reality are both gone', async () => {
    const manifest = parseManifest(WEB);
    await h.p2(['schedule', 'web.yaml', '--node', 'w5', '--force']);
    await new PodTree(h.store, 'reality').setPod('w5', manifest);
    const waiting = h.p2(['unschedule', 'p2t-wait', '--node', 'w5', '--force', '--wait']);
    for (let i = 0; i < 500 && (await h.store.get('intent/w5/p2t-wait')).value; i++)
      await new Promise((r) => setTimeout(r, 20));
    await new PodTree(h.store, 'reality').deletePod('w5', 'p2t-wait');
    const r = await waiting;
    expect(r.code).toBe(ExitCode.OK);
    // Piped: a line per state it saw ('removing' only if it looked before reality went too).
    expect(r.err).toMatch(/^(p2t-wait on w5: (still intended|removing)\n)*p2t-wait on w5: gone\n$/);
  });
});
