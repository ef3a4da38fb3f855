import { chmod, chown, copyFile, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../vitest.shared.js';
import { HoistErrorCodes } from './errors.js';
import { parseOsRelease, readOsRelease } from './os-release.js';
import { tempDir } from './test-support.js';

const redhatFixture = join(fixturesDir, 'os/redhat-release');
let work: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  work = await tempDir('p2t-hoist-os-');
});
afterAll(async () => {
  await work.cleanup();
});

describe('parseOsRelease', () => {
  it("reads P2's integration release file as P2 did: CentOS, second-to-last word", async () => {
    const text = await readFile(redhatFixture, 'utf8');
    expect(parseOsRelease(text, redhatFixture)).toEqual({ os: 'CentOS', version: '7.4.1708' });
    expect(parseOsRelease('CentOS release 8.8 (Final)', 'f')).toEqual({
      os: 'CentOS',
      version: '8.8',
    });
  });

  it('reads os-release: ID and VERSION_ID, quoted or not', () => {
    const debian =
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';
    expect(parseOsRelease(debian, 'f')).toEqual({ os: 'debian', version: '12' });
    expect(parseOsRelease("ID='centos'\nVERSION_ID=7\n", 'f')).toEqual({
      os: 'centos',
      version: '7',
    });
  });

  it.each([
    ['another distribution’s release line', 'Rocky Linux release 9.2 (Blue Onyx)\n'],
    ['an empty file', ''],
    ['a CentOS line without a version', 'CentOS Linux release (Core)\n'],
    ['os-release without VERSION_ID', 'ID=arch\nNAME=Arch\n'],
    ['an ID with a space', 'ID="deb ian"\nVERSION_ID=12\n'],
    ['a VERSION_ID with a slash', 'ID=debian\nVERSION_ID="12/../x"\n'],
  ])('refuses %s, naming the file but never its content', (_what, text) => {
    let caught: unknown;
    try {
      parseOsRelease(text, '/etc/some-release');
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: HoistErrorCodes.OS_RELEASE_INVALID });
    const message = (caught as Error).message;
    expect(message).toContain('/etc/some-release');
    for (const secret of ['Rocky', 'Arch', 'deb ian', '12/../x'])
      expect(message).not.toContain(secret);
    expect((caught as { hint: string }).hint).toContain('os_version_file');
  });
});

describe('readOsRelease', () => {
  it('reads a configured file, through a symlink as /etc/os-release is on Debian', async () => {
    const file = join(work.dir, 'redhat-release');
    await copyFile(redhatFixture, file);
    expect(await readOsRelease(file)).toEqual({ os: 'CentOS', version: '7.4.1708', file });
    const real = join(work.dir, 'usr-lib-os-release');
    await writeFile(real, 'ID=debian\nVERSION_ID="12"\n');
    const link = join(work.dir, 'os-release');
    await symlink(real, link);
    expect(await readOsRelease(link)).toEqual({ os: 'debian', version: '12', file: link });
  });

  it('without a file: /etc/redhat-release if present, else /etc/os-release (this host)', async () => {
    const found = await readOsRelease();
    expect(['/etc/redhat-release', '/etc/os-release']).toContain(found.file);
    expect(found.os).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it('refuses a missing file and a relative path', async () => {
    await expect(readOsRelease(join(work.dir, 'missing'))).rejects.toMatchObject({
      code: HoistErrorCodes.OS_RELEASE_INVALID,
      message: expect.stringContaining('does not exist'),
    });
    await expect(readOsRelease('etc/os-release')).rejects.toMatchObject({
      code: HoistErrorCodes.OS_RELEASE_INVALID,
      message: expect.stringContaining('not absolute'),
    });
  });

  it('refuses a file others may write: it decides which build root installs', async () => {
    const file = join(work.dir, 'writable-release');
    await writeFile(file, 'ID=debian\nVERSION_ID=12\n');
    await chmod(file, 0o666);
    await expect(readOsRelease(file)).rejects.toMatchObject({
      code: HoistErrorCodes.OS_RELEASE_INVALID,
      message: expect.stringContaining('writable by group or others'),
    });
  });

  it.runIf(process.getuid?.() === 0)(
    'as root: refuses a file (or a link target) another user owns',
    async () => {
      const file = join(work.dir, 'user-release');
      await writeFile(file, 'ID=debian\nVERSION_ID=12\n');
      await chown(file, 65534, 65534);
      await expect(readOsRelease(file)).rejects.toMatchObject({
        code: HoistErrorCodes.OS_RELEASE_INVALID,
        message: expect.stringContaining('owned by uid 65534'),
      });
      const link = join(work.dir, 'link-to-user-release');
      await symlink(file, link);
      await expect(readOsRelease(link)).rejects.toMatchObject({
        code: HoistErrorCodes.OS_RELEASE_INVALID,
      });
    },
  );
});
