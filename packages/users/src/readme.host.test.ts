/**
 * The README's opening example must stay true: run it as written (root; a `p2t-` user with its home
 * in a temporary directory instead of `hello` in /data/pods), printing each call it shows a result
 * for, and compare with those results (the ids are whatever the range had free). The user and its
 * group are removed afterwards.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { expect, it, vi } from 'vitest';
import { removeUser } from './index.js';

const name = 'p2t-users-readme';

/** A value the README writes as a JavaScript literal in a comment. */
function literal(text: string): unknown {
  return new Function(`return (${text});`)();
}

it('the README example gives what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const dir = await mkdtemp(join(tmpdir(), 'p2t-users-readme-'));
  const home = join(dir, 'home');
  const ours = (text: string) =>
    text.replaceAll("'hello'", `'${name}'`).replaceAll("'/data/pods/hello'", `'${home}'`);
  const created = /^await ensureUser\(.*\);\n((?:\/\/ .*\n)+)/m.exec(code)?.[1] ?? '';
  const shownCreated = literal(ours(created.replace(/^\/\/ /gm, ''))) as {
    user: { uid: number; gid: number };
    group: { gid: number };
  };
  const shownNobody = literal(/^await lookupUser\('nobody'\); \/\/ (.*)$/m.exec(code)?.[1] ?? '');
  // `UsersError P2_USERS_INVALID_NAME: <message>…`, as the example prints it.
  const [, errorName, errorCode, errorMessage] = /^\/\/ (\w+) (P2_\w+): (.*)…$/m.exec(code) ?? [];
  expect(errorMessage).toBeDefined();
  // Each `await ensureUser(…)` / `await lookupUser(…)` line prints its result.
  const runnable = ours(code).replace(
    /^await ((?:ensureUser|lookupUser)\(.*\));/gm,
    'console.log(JSON.stringify(await $1));',
  );
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(format(...args));
  });
  try {
    // Imported from a file, so that vitest compiles it and `@p2/users` is this package's source.
    await writeFile(join(dir, 'example.ts'), runnable);
    await import(join(dir, 'example.ts'));
  } finally {
    log.mockRestore();
    await removeUser(name);
    await rm(dir, { recursive: true, force: true });
  }
  expect(printed).toHaveLength(4);
  const [first, again, nobody, error] = printed as [string, string, string, string];
  const made = JSON.parse(first) as typeof shownCreated;
  expect(made.user.uid).toBeGreaterThanOrEqual(42000);
  expect(made.user.uid).toBeLessThanOrEqual(42999);
  const { uid, gid } = made.user;
  expect(made).toEqual({
    ...shownCreated,
    user: { ...shownCreated.user, uid, gid },
    group: { ...shownCreated.group, gid },
    groups: [gid],
  });
  expect(JSON.parse(again)).toEqual({ ...made, created: false, homeCreated: false });
  expect(JSON.parse(nobody)).toEqual(shownNobody);
  expect(error.startsWith(`${errorName} ${errorCode}: ${errorMessage}`)).toBe(true);
});
