/**
 * `--wait` on rc and ds writes, against a real kv-server; the preparer's records (intent, reality,
 * status) and the controller's pod labels are written by the test as they would write them.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { LabelStore, PreparerStatusStore } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

const TEXT = 'id: p2t-rcwait\nconfig:\n  v: 1\n';
let h: Harness;
beforeAll(async () => {
  h = await startHarness('rcwait');
  await writeFile(join(h.dir, 'pod.yaml'), TEXT);
});
afterAll(async () => {
  await h?.close();
});

/** What a preparer leaves once it runs (or fails) the pod on `node`. */
async function ran(node: string, state: 'running' | 'failed' = 'running') {
  const manifest = parseManifest(TEXT);
  await h.store.put(`intent/${node}/p2t-rcwait`, TEXT);
  if (state === 'running') await h.store.put(`reality/${node}/p2t-rcwait`, TEXT);
  await new PreparerStatusStore(h.store).publish(node, {
    pod: 'p2t-rcwait',
    uniqueKey: '',
    state,
    sha: manifest.sha(),
    updated: new Date().toISOString(),
    ...(state === 'failed' ? { error: 'launch failed' } : {}),
  });
}

describe('--wait on rc and ds', () => {
  it('rc create --wait follows the replicas to running; a timeout exits 6 saying where it stood', async () => {
    const none = await h.p2([
      'rc',
      'create',
      '-m',
      'pod.yaml',
      '-n',
      '',
      '-r',
      '1',
      '--timeout',
      '300ms',
    ]);
    expect(none.code).toBe(ExitCode.TIMEOUT);
    expect(none.err).toMatch(/error: timed out; last: rc [0-9a-f]{8}: 0\/1 running/);

    const created = JSON.parse(
      (await h.p2(['rc', 'create', '-m', 'pod.yaml', '-n', '', '--json'])).out,
    ).id as string;
    const waiting = h.p2(['rc', 'set-replicas', created, '1', '--wait', '--timeout', '20s']);
    await new LabelStore(h.store).apply({
      type: 'pod',
      id: 'p2t-w1/p2t-rcwait',
      set: { replication_controller_id: created },
    });
    await ran('p2t-w1');
    const done = await waiting;
    expect(done.code, done.err).toBe(ExitCode.OK);
    // Piped: one line per change on stderr, the result on stdout.
    expect(done.err).toContain(`rc ${created.slice(0, 8)}: 1/1 running`);
    expect(done.out).toContain('replicas set to 1');

    await ran('p2t-w1', 'failed');
    const failed = await h.p2(['rc', 'set-replicas', created, '1', '--wait', '--timeout', '20s']);
    expect(failed.code).toBe(ExitCode.FAILURE);
    expect(failed.err).toContain('error: p2t-rcwait on p2t-w1: failed: launch failed');
  });

  it('ds create --wait waits for every selected node; its --timeout stays the replication timeout', async () => {
    await h.p2(['label', 'set', 'node', 'p2t-w2', 'role=p2t-rcwait']);
    const waiting = h.p2([
      'ds',
      'create',
      '-m',
      'pod.yaml',
      '-n',
      'role=p2t-rcwait',
      '--cluster-name',
      'c',
      '--timeout',
      '5m',
      '--wait',
      '--wait-timeout',
      '20s',
      '--json',
    ]);
    await ran('p2t-w2');
    const done = await waiting;
    expect(done.code, done.err).toBe(ExitCode.OK);
    expect(JSON.parse(done.out).timeoutMs).toBe(300_000);
    const bad = await h.p2([
      'ds',
      'create',
      '-m',
      'pod.yaml',
      '--everywhere',
      '--cluster-name',
      'd',
      '--wait-timeout',
      'soon',
    ]);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.err).toContain('--wait-timeout must be a duration');
  });
});
