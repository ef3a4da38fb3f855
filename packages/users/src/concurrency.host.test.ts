/**
 * Several processes creating the same users at once (several preparers on one machine, `p2
 * launch` next to a preparer): every call succeeds, each user is created exactly once with its
 * own group, and nothing is half-made. Real useradd/groupadd; needs root.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { findGroup, lookupUser, removeUser } from './index.js';

const run = promisify(execFile);
const suffix = Math.random().toString(36).slice(2, 7);
const names = ['a', 'b', 'c', 'd'].map((n) => `p2t-uc${n}-${suffix}`);
const index = fileURLToPath(new URL('./index.ts', import.meta.url));
let root: string | undefined;

afterAll(async () => {
  for (const name of names) await removeUser(name).catch(() => undefined);
  if (root) await rm(root, { recursive: true, force: true });
});

it('six processes ensuring the same four users at once all succeed, each user made once', async () => {
  root = await mkdtemp(join(tmpdir(), 'p2t-users-race-'));
  const script = (order: string[]) => `
    const { ensureUser } = await import(${JSON.stringify(index)});
    const out = [];
    for (const name of ${JSON.stringify(order)}) {
      const r = await ensureUser({ name, home: ${JSON.stringify(root)} + '/' + name, idRange: { min: 43000, max: 43999 } });
      out.push({ name, created: r.created, uid: r.user.uid, gid: r.user.gid, group: r.group.gid });
    }
    process.stdout.write(JSON.stringify(out));`;
  const orders = Array.from({ length: 6 }, (_, i) =>
    i % 2 === 0 ? [...names] : [...names].reverse(),
  );
  const results = await Promise.all(
    orders.map((order) =>
      run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(order)], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
      }).then(
        (r) =>
          JSON.parse(r.stdout) as Array<{
            name: string;
            created: boolean;
            uid: number;
            gid: number;
            group: number;
          }>,
        (error: { stderr?: string }) => {
          throw new Error(`a process failed: ${error.stderr ?? String(error)}`);
        },
      ),
    ),
  );
  for (const name of names) {
    const seen = results.flat().filter((r) => r.name === name);
    expect(seen).toHaveLength(6);
    expect(seen.filter((r) => r.created)).toHaveLength(1);
    const user = await lookupUser(name);
    const group = await findGroup(name);
    expect(group?.gid).toBe(user.gid);
    for (const r of seen) expect([r.uid, r.gid, r.group]).toEqual([user.uid, user.gid, user.gid]);
  }
}, 120_000);
