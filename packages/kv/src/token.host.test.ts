/**
 * Token files on the real filesystem, as root: created 0600 root, reused, and refused when anyone
 * else could have written or could read them.
 */
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvErrorCodes } from './errors.js';
import { ensureTokenFile, findStoreToken, readTokenFile, tokenSha256 } from './token.js';

const NOBODY = 65534;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-token-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isP2Error(error) ? error.code : `not a P2Error: ${String(error)}`;
}

describe.runIf(process.getuid?.() === 0)('token files (root)', () => {
  it('ensureTokenFile creates 32 random bytes (hex) 0600 root, in a 0755 root directory, then reuses them', async () => {
    const path = join(dir, 'etc-p2', 'consul.token');
    const first = await ensureTokenFile(path);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[0-9a-f]{64}$/);
    const stats = await lstat(path);
    expect([stats.isFile(), stats.uid, stats.gid, stats.mode & 0o777]).toEqual([true, 0, 0, 0o600]);
    expect((await lstat(join(dir, 'etc-p2'))).mode & 0o777).toBe(0o755);
    expect(await readFile(path, 'utf8')).toBe(`${first.token}\n`);
    const second = await ensureTokenFile(path);
    expect(second).toEqual({ token: first.token, created: false });
    expect(tokenSha256(first.token)).toMatch(/^[0-9a-f]{64}$/);
    // Two at once on a fresh path agree on one token (exclusive create, link into place).
    const racing = join(dir, 'race', 'consul.token');
    const [a, b] = await Promise.all([ensureTokenFile(racing), ensureTokenFile(racing)]);
    expect(a.token).toBe(b.token);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
  });

  it('refuses to reuse a file group or others may read, one not owned by root, a symlink, a directory', async () => {
    const make = async (name: string, mode: number, uid = 0) => {
      const path = join(dir, name);
      await writeFile(path, 'p2t-secret\n', { mode });
      await chmod(path, mode);
      await chown(path, uid, 0);
      return path;
    };
    for (const path of [
      await make('group-readable.token', 0o640),
      await make('world-readable.token', 0o604),
      await make('world-writable.token', 0o602),
      await make('nobody.token', 0o600, NOBODY),
    ]) {
      const error = await ensureTokenFile(path).catch((e: unknown) => e);
      expect([path, isP2Error(error, KvErrorCodes.TOKEN_FILE_UNSAFE)]).toEqual([path, true]);
      expect((error as Error).message).toContain(path);
      expect((error as { hint?: string }).hint).toContain(`chmod 600 ${path}`);
    }
    const target = await make('target.token', 0o600);
    const link = join(dir, 'link.token');
    await symlink(target, link);
    expect(await codeOf(ensureTokenFile(link))).toBe(KvErrorCodes.TOKEN_FILE_UNSAFE);
    expect(await codeOf(readTokenFile(link))).toBe(KvErrorCodes.TOKEN_FILE_UNSAFE);
    const dangling = join(dir, 'dangling.token');
    await symlink(join(dir, 'nowhere'), dangling);
    expect(await codeOf(ensureTokenFile(dangling))).toBe(KvErrorCodes.TOKEN_FILE_UNSAFE);
    await mkdir(join(dir, 'a-dir.token'));
    expect(await codeOf(ensureTokenFile(join(dir, 'a-dir.token')))).toBe(
      KvErrorCodes.TOKEN_FILE_UNSAFE,
    );
    const empty = await make('empty.token', 0o600);
    await writeFile(empty, '\n');
    expect(await codeOf(ensureTokenFile(empty))).toBe(KvErrorCodes.TOKEN_FILE_UNREADABLE);
  });

  it('refuses a parent directory others may write or that root does not own', async () => {
    for (const [name, mode, uid] of [
      ['open-dir', 0o777, 0],
      ['group-dir', 0o775, 0],
      ['nobody-dir', 0o755, NOBODY],
    ] as const) {
      const parent = join(dir, name);
      await mkdir(parent);
      await chmod(parent, mode);
      await chown(parent, uid, 0);
      const error = await ensureTokenFile(join(parent, 'consul.token')).catch((e: unknown) => e);
      expect([name, isP2Error(error, KvErrorCodes.TOKEN_FILE_UNSAFE)]).toEqual([name, true]);
      expect((error as { hint?: string }).hint).toContain(`chown root:root ${parent}`);
      await expect(lstat(join(parent, 'consul.token'))).rejects.toThrow(/ENOENT/);
    }
  });

  it('findStoreToken as root refuses a file root does not own; as another user it would read it', async () => {
    const path = join(dir, 'not-roots.token');
    await writeFile(path, 'p2t-file-token\n', { mode: 0o600 });
    await chown(path, NOBODY, 0);
    const env = { P2_TOKEN_FILE: path };
    expect(await codeOf(findStoreToken({ env }))).toBe(KvErrorCodes.TOKEN_FILE_UNSAFE);
    expect(await findStoreToken({ env, asRoot: false })).toEqual({
      token: 'p2t-file-token',
      source: 'file',
      file: path,
    });
    expect(await findStoreToken({ env: { ...env, CONSUL_HTTP_TOKEN: 'p2t-env' } })).toMatchObject({
      token: 'p2t-env',
      source: 'CONSUL_HTTP_TOKEN',
    });
    expect(
      await findStoreToken({ flag: 'p2t-flag', env: { ...env, CONSUL_HTTP_TOKEN: 'p2t-env' } }),
    ).toMatchObject({ token: 'p2t-flag', source: 'flag' });
    expect(await findStoreToken({ env: { P2_TOKEN_FILE: join(dir, 'absent') } })).toMatchObject({
      token: undefined,
      fileProblem: 'does not exist',
    });
  });

  it("the preparer's check (root-owned, private) on readTokenFile", async () => {
    const path = join(dir, 'preparer.token');
    await writeFile(path, '  p2t-preparer  \n', { mode: 0o600 });
    expect(await readTokenFile(path, { rootOwned: true, private: true })).toBe('p2t-preparer');
    await chmod(path, 0o660);
    const error = await readTokenFile(path, { rootOwned: true, private: true }).catch(
      (e: unknown) => e,
    );
    expect(isP2Error(error, KvErrorCodes.TOKEN_FILE_UNSAFE)).toBe(true);
    expect((error as Error).message).toBe(
      `token file ${path} has mode 0660: group or others may read or write it`,
    );
    expect(await readTokenFile(path)).toBe('p2t-preparer');
    expect(await codeOf(readTokenFile(join(dir, 'absent')))).toBe(
      KvErrorCodes.TOKEN_FILE_UNREADABLE,
    );
  });
});
