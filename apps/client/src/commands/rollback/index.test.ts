/**
 * `p2 history` and `p2 rollback` against a real kv-server: which revision is written back, that it
 * is written byte for byte (a gpg-signed manifest stays signed, and the output says what that means
 * for the replay guard), and the errors. The preparer side is covered by e2e/test/pod-events.test.ts.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { PodEventStore, PodHistoryStore, PodTree } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../../../vitest.shared.js';
import { type Harness, startHarness } from '../../test-support.js';

const NODE = 'p2t-n1';
const POD = 'p2t-web';
const v2 = parseManifest(`id: ${POD}\nconfig:\n  greeting: two\n`);
let h: Harness;
let signed = '';

beforeAll(async () => {
  h = await startHarness('rollback');
  await writeFile(join(h.dir, 'm.yaml'), `id: ${POD}\nconfig:\n  greeting: one\n`);
  await copyFile(join(fixturesDir, 'keys', 'p2universe-secring.gpg'), join(h.dir, 'sec.gpg'));
  const r = await h.p2(['sign', 'm.yaml', '--key', 'sec.gpg', '--serial', '7']);
  expect(r.code, r.err).toBe(ExitCode.OK);
  signed = r.out;
  const history = new PodHistoryStore(h.store);
  const v1 = parseManifest(signed);
  await history.record(NODE, POD, { sha: v1.sha(), manifest: v1.text() });
  await history.record(NODE, POD, { sha: v2.sha(), manifest: v2.text() });
  await new PodTree(h.store, 'intent').setPod(NODE, v2);
});
afterAll(async () => {
  await h?.close();
});

describe('p2 history / p2 rollback', () => {
  it('lists the kept revisions, marking what intent holds, and shows one', async () => {
    const r = await h.p2(['history', POD, '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toEqual([
      {
        node: NODE,
        intentSha: v2.sha(),
        revisions: [
          expect.objectContaining({ rev: 1, sha: parseManifest(signed).sha() }),
          expect.objectContaining({ rev: 2, sha: v2.sha() }),
        ],
      },
    ]);
    const human = await h.p2(['history', POD]);
    expect(human.out).toMatch(new RegExp(`2 .*${v2.sha()}.*← intent`));
    expect((await h.p2(['history', POD, '--show', '1'])).out).toBe(signed.trimEnd() + '\n');
  });

  it('writes the previous revision back byte for byte, signed, and says what the replay guard does', async () => {
    const r = await h.p2(['rollback', POD, '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    const out = JSON.parse(r.out);
    expect(out.rolledBack).toEqual([
      expect.objectContaining({ node: NODE, rev: 1, signed: true, deploySerial: 7 }),
    ]);
    expect(out.rolledBack[0].note).toMatch(/nothing re-signed.*replay guard refuses/);
    const intent = (await h.store.get(`intent/${NODE}/${POD}`)).value?.value;
    expect(Buffer.from(intent ?? []).toString('utf8')).toBe(signed);
    // Now intent holds revision 1: with no --to, rollback goes to the newest other one (2).
    const back = await h.p2(['rollback', POD, '--node', NODE]);
    expect(back.out).toContain(`rolled back ${POD} on ${NODE} to revision 2`);
    expect(Buffer.from((await h.store.get(`intent/${NODE}/${POD}`)).value?.value ?? [])).toEqual(
      Buffer.from(v2.raw),
    );
  });

  it('p2 describe shows the node, its events with their steps and times, and its revisions', async () => {
    await new PodEventStore(h.store).append(NODE, POD, [
      {
        time: '2026-12-05T00:00:01.000Z',
        type: 'deployed',
        sha: v2.sha(),
        steps: { install: 12 },
        totalMs: 40,
      },
      {
        time: '2026-12-05T00:00:02.000Z',
        type: 'exit',
        service: `${POD}__app__launch`,
        exitCode: 3,
        signal: null,
      },
      { time: '2026-12-05T00:00:03.000Z', type: 'health', from: 'passing', to: 'critical' },
    ]);
    const r = await h.p2(['describe', POD]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toContain(`${NODE}: pending, no preparer state`);
    expect(r.out).toMatch(/2026-12-05T00:00:01.000Z {2}deployed .*install=12ms {2}total=40ms/);
    expect(r.out).toMatch(/exit .*code=3 signal=-/);
    expect(r.out).toContain('passing → critical');
    expect(r.out).toContain('revisions: 1, 2 (p2 history)');
  });

  it('refuses a revision that is not kept, and a pod on no node', async () => {
    const r = await h.p2(['rollback', POD, '--to', '9']);
    expect(r.code).toBe(ExitCode.NOT_FOUND);
    expect(r.err).toContain('revision 9');
    expect(r.err).toContain(`hint: p2 history ${POD} --node ${NODE}`);
    expect((await h.p2(['rollback', 'p2t-nothing'])).code).toBe(ExitCode.NOT_FOUND);
    expect((await h.p2(['describe', 'p2t-nothing'])).code).toBe(ExitCode.NOT_FOUND);
  });
});
