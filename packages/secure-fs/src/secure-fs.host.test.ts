/**
 * Root-safe file access against what a hostile local user can do: links, FIFOs, files and
 * directories they own or can write. Needs root (it creates files owned by another uid); names
 * start with p2t- and the temp dir is removed afterwards.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  distrustAncestors,
  distrustDir,
  ensureTrustedDir,
  pathExists,
  readTrustedFile,
  removeAtomicWriteLeftovers,
  removeTree,
  writeFileAtomic,
} from './index.js';

const run = promisify(execFile);
const NOBODY = 65534;
let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-securefs-'));
  await chmod(work, 0o755);
  await mkdir(join(work, 'precious'));
  await writeFile(join(work, 'precious', 'file'), 'root secret\n', { mode: 0o600 });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('pathExists', () => {
  it('looks at the path itself: a dangling link exists, a missing path does not, other errors throw', async () => {
    await symlink(join(work, 'nowhere'), join(work, 'dangling'));
    expect(await pathExists(join(work, 'dangling'))).toBe(true);
    expect(await pathExists(join(work, 'precious', 'file'))).toBe(true);
    expect(await pathExists(join(work, 'nowhere'))).toBe(false);
    await expect(pathExists(join(work, 'precious', 'file', 'below'))).rejects.toMatchObject({
      code: 'ENOTDIR',
    });
  });
});

describe('readTrustedFile', () => {
  it('reads a root-owned file, and says missing with undefined', async () => {
    await writeFile(join(work, 'ok'), 'fine');
    expect((await readTrustedFile(join(work, 'ok'), { maxBytes: 10 }))?.toString()).toBe('fine');
    expect(await readTrustedFile(join(work, 'absent'), { maxBytes: 10 })).toBeUndefined();
  });

  it('refuses a link, a FIFO (without blocking), a foreign owner, a group-writable file, a large file', async () => {
    await symlink(join(work, 'precious', 'file'), join(work, 'link'));
    await run('mkfifo', [join(work, 'fifo')]);
    await writeFile(join(work, 'foreign'), 'x');
    await chown(join(work, 'foreign'), NOBODY, NOBODY);
    await writeFile(join(work, 'writable'), 'x', { mode: 0o664 });
    await chmod(join(work, 'writable'), 0o664);
    await writeFile(join(work, 'big'), 'x'.repeat(100));
    const started = Date.now();
    for (const [name, code, reason] of [
      ['link', 'P2_SECURE_FS_UNTRUSTED', /symbolic link/],
      ['fifo', 'P2_SECURE_FS_UNTRUSTED', /not a regular file/],
      ['foreign', 'P2_SECURE_FS_UNTRUSTED', /uid 65534/],
      ['writable', 'P2_SECURE_FS_UNTRUSTED', /writable by group or others/],
      ['big', 'P2_SECURE_FS_TOO_LARGE', /100 bytes/],
    ] as const) {
      const error = await readTrustedFile(join(work, name), { maxBytes: 10 }).catch((e) => e);
      expect([name, error.code]).toEqual([name, code]);
      expect(error.message).toMatch(reason);
      expect(error.message).not.toContain('root secret');
    }
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('with private, refuses a secret others may read', async () => {
    await writeFile(join(work, 'token'), 'abc', { mode: 0o644 });
    await chmod(join(work, 'token'), 0o644);
    await expect(
      readTrustedFile(join(work, 'token'), { maxBytes: 10, private: true }),
    ).rejects.toMatchObject({ code: 'P2_SECURE_FS_UNTRUSTED' });
    await chmod(join(work, 'token'), 0o600);
    expect(
      (await readTrustedFile(join(work, 'token'), { maxBytes: 10, private: true }))?.toString(),
    ).toBe('abc');
  });
});

describe('directories', () => {
  it('distrusts a directory another user owns or can write, and any link', async () => {
    const theirs = join(work, 'theirs');
    await mkdir(theirs);
    await chown(theirs, NOBODY, NOBODY);
    expect(await distrustDir(theirs)).toMatch(/uid 65534/);
    await symlink(work, join(work, 'dirlink'));
    expect(await distrustDir(join(work, 'dirlink'))).toBe('is a symbolic link');
    const open = join(work, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    expect(await distrustDir(open)).toMatch(/writable by group or others \(mode 777\)/);
    expect(await distrustDir(work)).toBeUndefined();
  });

  it('accepts sticky directories above a path but not the path itself', async () => {
    expect(await distrustAncestors(work)).toBeUndefined(); // /tmp is 1777
    const sticky = join(work, 'sticky');
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    expect((await distrustAncestors(sticky))?.dir).toBe(sticky);
    await mkdir(join(sticky, 'below'));
    expect(await distrustAncestors(join(sticky, 'below'))).toBeUndefined();
    const open = join(work, 'open2');
    await mkdir(join(open, 'below'), { recursive: true });
    await chmod(open, 0o777);
    expect((await distrustAncestors(join(open, 'below')))?.dir).toBe(open);
  });

  it('ensureTrustedDir never adopts a directory someone else prepared', async () => {
    const planted = join(work, 'planted');
    await symlink(join(work, 'precious'), planted);
    await expect(ensureTrustedDir(planted)).rejects.toMatchObject({
      code: 'P2_SECURE_FS_UNTRUSTED',
    });
    const fresh = join(work, 'fresh');
    await ensureTrustedDir(fresh, 0o750);
    expect((await stat(fresh)).mode & 0o777).toBe(0o750);
  });
});

describe('writeFileAtomic', () => {
  it('replaces a planted link instead of writing through it, with owner and mode set', async () => {
    const target = join(work, 'config');
    await symlink(join(work, 'precious', 'file'), target);
    await writeFileAtomic(target, 'new', { mode: 0o400, uid: NOBODY, gid: NOBODY });
    const info = await stat(target);
    expect([info.uid, info.mode & 0o777, info.isFile()]).toEqual([NOBODY, 0o400, true]);
    expect(await readFile(join(work, 'precious', 'file'), 'utf8')).toBe('root secret\n');
  });
});

describe('removeAtomicWriteLeftovers', () => {
  it("removes what a writer killed mid-write left — hidden names, and older versions' visible ones — and nothing else", async () => {
    const dir = join(work, 'env');
    await mkdir(dir);
    await writeFileAtomic(join(dir, 'CONFIG_PATH'), '/x', { mode: 0o400, uid: NOBODY });
    // What a SIGKILL between the write and the rename leaves, as root 0600 the pod cannot read.
    await writeFile(join(dir, '.CONFIG_PATH.p2-tmp-0123456789ab'), 'half', { mode: 0o600 });
    await writeFile(join(dir, 'POD_ID.p2-tmp-a1b2c3d4e5f6'), 'old style', { mode: 0o600 });
    // A link with a leftover's name goes (unlink does not follow it); its target stays.
    await symlink(join(work, 'precious', 'file'), join(dir, '.X.p2-tmp-ffffffffffff'));
    await mkdir(join(dir, '.D.p2-tmp-eeeeeeeeeeee'));
    await writeFile(join(dir, 'NOT.p2-tmp-short'), 'kept');

    const removed = await removeAtomicWriteLeftovers(dir);
    expect(removed.sort()).toEqual([
      '.CONFIG_PATH.p2-tmp-0123456789ab',
      '.X.p2-tmp-ffffffffffff',
      'POD_ID.p2-tmp-a1b2c3d4e5f6',
    ]);
    expect((await readdir(dir)).sort()).toEqual([
      '.D.p2-tmp-eeeeeeeeeeee',
      'CONFIG_PATH',
      'NOT.p2-tmp-short',
    ]);
    expect(await readFile(join(work, 'precious', 'file'), 'utf8')).toBe('root secret\n');
    expect(await removeAtomicWriteLeftovers(join(work, 'no-such-dir'))).toEqual([]);
  });

  it('writes under a hidden temporary name, which chpst -e skips', async () => {
    // chpst reads every visible file of an env dir; a leftover the pod cannot read stops it cold.
    const dir = join(work, 'env2');
    await mkdir(dir, { mode: 0o755 });
    await writeFileAtomic(join(dir, 'A'), 'one', { mode: 0o400, uid: NOBODY, gid: NOBODY });
    await writeFile(join(dir, '.B.p2-tmp-0123456789ab'), 'half', { mode: 0o600 });
    const { stdout } = await run('setpriv', [
      '--reuid',
      String(NOBODY),
      '--regid',
      String(NOBODY),
      '--clear-groups',
      '--',
      'chpst',
      '-e',
      dir,
      'sh',
      '-c',
      'echo "$A"',
    ]);
    expect(stdout).toBe('one\n');
  });
});

describe('removeTree', () => {
  it('deletes a tree full of links without touching what they point to', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    await symlink(join(work, 'precious'), join(tree, 'escape'));
    await symlink(join(work, 'precious', 'file'), join(tree, 'sub', 'file'));
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
    expect(await readFile(join(work, 'precious', 'file'), 'utf8')).toBe('root secret\n');
    await removeTree(join(work, 'never-was'));
  });
});
