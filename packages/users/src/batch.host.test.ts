/**
 * Many ensureUser calls at once in one process (a burst of new pods): they are group-committed
 * under one lock turn, and each user is still made exactly once, with its own ids and groups; a
 * call that fails fails alone, and a removal queued between creations is applied in its place.
 * Real useradd/groupadd; needs root.
 */
import { afterAll, expect, it } from 'vitest';
import { ensureUser, findGroup, findUser, lookupUser, removeUser, userGroupIds } from './index.js';

const suffix = Math.random().toString(36).slice(2, 7);
const names = Array.from({ length: 12 }, (_, i) => `p2t-ub${i}-${suffix}`);
const shared = `p2t-ubg-${suffix}`;
const extra = `p2t-ubx-${suffix}`;
const idRange = { min: 44000, max: 44999 };

afterAll(async () => {
  for (const name of [...names, extra]) await removeUser(name).catch(() => undefined);
  await removeUser(shared).catch(() => undefined);
});

it('a burst of ensureUser calls makes each user once, with its own ids and groups', async () => {
  await ensureUser({ name: extra, idRange });
  const own = names.slice(0, 8);
  const inShared = names.slice(8, 11);
  const calls = [
    // every own-group user asked for twice, in the same tick
    ...[...own, ...own].map((name) =>
      ensureUser({ name, idRange, supplementaryGroups: [extra] }).then((r) => ({ name, r })),
    ),
    // three users sharing one new group
    ...inShared.map((name) =>
      ensureUser({ name, group: shared, idRange }).then((r) => ({ name, r })),
    ),
  ];
  const missingGroup = ensureUser({
    name: names[11] as string,
    idRange,
    supplementaryGroups: [`p2t-ubnone-${suffix}`],
  }).then(
    () => undefined,
    (error: unknown) => error,
  );
  const results = await Promise.all(calls);
  expect(await missingGroup).toMatchObject({ code: 'P2_USERS_CREATE_FAILED' });
  expect(await findUser(names[11] as string)).toBeUndefined();

  const extraGid = (await findGroup(extra))?.gid;
  const uids = new Set<number>();
  for (const name of [...own, ...inShared]) {
    const seen = results.filter((x) => x.name === name).map((x) => x.r);
    expect(seen.filter((r) => r.created)).toHaveLength(1);
    const user = await lookupUser(name);
    uids.add(user.uid);
    expect(user.uid).toBeGreaterThanOrEqual(idRange.min);
    expect(user.uid).toBeLessThanOrEqual(idRange.max);
    for (const r of seen) {
      expect(r.user).toEqual(user);
      expect(r.group.gid).toBe(user.gid);
      expect(r.groups).toEqual(await userGroupIds(name));
    }
    const group = await findGroup(own.includes(name) ? name : shared);
    expect(group?.gid).toBe(user.gid);
    if (own.includes(name)) expect(seen[0]?.groups).toContain(extraGid);
  }
  expect(uids.size).toBe(own.length + inShared.length);
  const ownGids = new Set(own.map((name) => results.find((x) => x.name === name)?.r.user.gid));
  expect(ownGids.size).toBe(own.length);
}, 120_000);

it('a removal queued between two creations of the same user is applied between them', async () => {
  const name = names[0] as string;
  const [before, , after] = await Promise.all([
    ensureUser({ name, idRange }),
    removeUser(name),
    ensureUser({ name, idRange }),
  ]);
  expect(before.created).toBe(false);
  expect(after.created).toBe(true);
  expect((await lookupUser(name)).uid).toBe(after.user.uid);
}, 60_000);
