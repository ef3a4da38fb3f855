import { createHash } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigestFile, verifyInstallDigest } from './digest.js';
import { HoistErrorCodes } from './errors.js';
import { tempDir } from './test-support.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
let work: { dir: string; cleanup: () => Promise<void> };
let install: string;

beforeEach(async () => {
  work = await tempDir('p2t-hoist-digest-');
  install = join(work.dir, 'app_v1');
  await mkdir(join(install, 'bin'), { recursive: true });
  await writeFile(join(install, 'bin/launch'), 'launch');
  await writeFile(join(install, 'README'), 'readme');
  await symlink('README', join(install, 'README.link')); // relative link to a file: listed
  await symlink('/etc/hostname', join(install, 'abs.link')); // absolute: skipped
  await symlink('bin', join(install, 'bin.link')); // link to a directory: skipped
});
afterEach(async () => {
  await work.cleanup();
});

const goodDigest = () =>
  [
    `${sha('launch')}  bin/launch`,
    `${sha('readme')} *./README`,
    '',
    `${sha('readme')}  README.link`,
    '',
  ].join('\n');

describe('parseDigestFile (sha256sum format, spec 01 §1.11)', () => {
  it('parses lines, ignores the mode char and blank lines, cleans paths', () => {
    expect([...parseDigestFile(goodDigest()).keys()]).toEqual([
      'bin/launch',
      'README',
      'README.link',
    ]);
  });

  it.each([
    ['short line', 'abc  x'],
    ['uppercase hex', `${sha('x').toUpperCase()}  x`],
    ['duplicate', `${sha('a')}  a\n${sha('a')}  ./a`],
    ['escaping path', `${sha('a')}  ../a`],
    ['absolute path', `${sha('a')}  /etc/passwd`],
  ])('refuses a %s', (_label, text) => {
    expect(() => parseDigestFile(text, 'https://h/app.digest')).toThrowError(
      expect.objectContaining({
        code: HoistErrorCodes.DIGEST_FILE_INVALID,
        message: expect.stringContaining('https://h/app.digest line'),
      }),
    );
  });
});

describe('verifyInstallDigest', () => {
  it('accepts a tree that matches', async () => {
    expect(await verifyInstallDigest(install, goodDigest())).toEqual({
      mismatched: [],
      missing: [],
      unlisted: [],
      checked: 3,
    });
  });

  it('reports changed, missing and unlisted files', async () => {
    await writeFile(join(install, 'bin/launch'), 'tampered');
    await writeFile(join(install, 'extra'), 'x');
    const digest = `${goodDigest()}${sha('gone')}  gone\n`;
    const error = await verifyInstallDigest(install, digest).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: HoistErrorCodes.TREE_DIGEST_MISMATCH,
      details: { mismatched: ['bin/launch'], missing: ['gone'], unlisted: ['extra'] },
    });
    expect((error as Error).message).toContain(
      'different: bin/launch; missing: gone; not in the digest: extra',
    );
  });
});
