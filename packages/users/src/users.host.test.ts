import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureUser, findUser, lookupUser, removeUser, userGroupIds } from './index.js';

const suffix = Math.random().toString(36).slice(2, 8);
const names = [`p2t-u1-${suffix}`, `p2t-u2-${suffix}`, `p2t-u3-${suffix}`, `p2t-ug-${suffix}`];
const dirs: string[] = [];

afterAll(async () => {
  for (const name of names) await removeUser(name).catch(() => undefined);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('ensureUser (real useradd)', () => {
  it('creates user, group and home once, then is idempotent', async () => {
    const root = await mkdtemp(join(tmpdir(), 'p2t-users-'));
    dirs.push(root);
    const home = join(root, 'pods', 'hello');
    const name = names[0] as string;
    const first = await ensureUser({ name, home, idRange: { min: 42000, max: 42999 } });
    expect(first.created).toBe(true);
    expect(first.homeCreated).toBe(true);
    expect(first.user.uid).toBeGreaterThanOrEqual(42000);
    expect(first.user.uid).toBeLessThanOrEqual(42999);
    expect(first.group.gid).toBe(first.user.gid);
    expect(first.user.home).toBe(home);
    const st = await stat(home);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([first.user.uid, first.user.gid, 0o755]);

    const again = await ensureUser({ name, home, idRange: { min: 42000, max: 42999 } });
    expect(again.created).toBe(false);
    expect(again.homeCreated).toBe(false);
    expect(again.user).toEqual(first.user);
  });

  it('adds supplementary groups and reports them', async () => {
    const groupUser = names[3] as string;
    const g = await ensureUser({ name: groupUser });
    const name = names[1] as string;
    const result = await ensureUser({ name, supplementaryGroups: [groupUser] });
    expect(result.groups).toContain(g.group.gid);
    expect(await userGroupIds(name)).toEqual(result.groups);
  });

  it('survives parallel calls for the same user', async () => {
    const name = names[2] as string;
    const results = await Promise.all([
      ensureUser({ name }),
      ensureUser({ name }),
      ensureUser({ name }),
    ]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.user.uid)).size).toBe(1);
  });

  it('rejects bad names and ranges with codes', async () => {
    await expect(ensureUser({ name: 'Bad/Pod' })).rejects.toMatchObject({
      code: 'P2_USERS_INVALID_NAME',
    });
    await expect(
      ensureUser({ name: `p2t-r-${suffix}`, idRange: { min: 10, max: 5 } }),
    ).rejects.toMatchObject({
      code: 'P2_USERS_RANGE',
    });
    await expect(lookupUser(`p2t-none-${suffix}`)).rejects.toMatchObject({
      code: 'P2_USERS_NOT_FOUND',
    });
    // an existing user whose primary group is not the one asked for
    await expect(
      ensureUser({ name: names[0] as string, group: names[3] as string }),
    ).rejects.toMatchObject({
      code: 'P2_USERS_MISMATCH',
    });
  });

  it('removeUser deletes user and group and tolerates missing ones', async () => {
    const name = names[2] as string;
    await removeUser(name);
    expect(await findUser(name)).toBeUndefined();
    await removeUser(name);
  });
});
