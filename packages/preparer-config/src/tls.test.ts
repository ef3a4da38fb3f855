import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PREPARER_KEYS,
  PreparerConfigErrorCode,
  parsePreparerConfig,
  readClientTlsFiles,
} from './index.js';

const SECRET = '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n';
let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-preparer-tls-'));
  await writeFile(file('ca.pem'), 'CA\n', { mode: 0o644 });
  await writeFile(file('cert.pem'), 'CERT\n', { mode: 0o644 });
  await writeFile(file('key.pem'), SECRET, { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cert_file and key_file', () => {
  it('are implemented keys, parsed into certFile/keyFile, and go together', () => {
    expect(PREPARER_KEYS.cert_file?.status).toBe('implemented');
    expect(PREPARER_KEYS.key_file?.status).toBe('implemented');
    const config = parsePreparerConfig(
      'preparer:\n  auth: {type: none}\n  ca_file: /ca\n  cert_file: /c\n  key_file: /k\n',
    );
    expect(config).toMatchObject({ caFile: '/ca', certFile: '/c', keyFile: '/k' });
    expect(() => parsePreparerConfig('preparer:\n  auth: {type: none}\n  key_file: /k\n')).toThrow(
      /cert_file: expected cert_file and key_file to be set together/,
    );
  });
});

describe('readClientTlsFiles', () => {
  it('reads the three files, and nothing when none is set', async () => {
    expect(await readClientTlsFiles({})).toEqual({});
    const tls = await readClientTlsFiles({
      caFile: file('ca.pem'),
      certFile: file('cert.pem'),
      keyFile: file('key.pem'),
    });
    expect(tls.ca?.toString()).toBe('CA\n');
    expect(tls.cert?.toString()).toBe('CERT\n');
    expect(tls.key?.toString()).toBe(SECRET);
  });

  it('refuses a key group or others may read, naming key_file and never showing the key', async () => {
    await chmod(file('key.pem'), 0o640);
    try {
      const error = await readClientTlsFiles({
        certFile: file('cert.pem'),
        keyFile: file('key.pem'),
      }).catch((e: unknown) => e);
      expect(isP2Error(error, PreparerConfigErrorCode.CONFIG_INVALID)).toBe(true);
      expect((error as Error).message).toMatch(/preparer\.key_file: .*readable by group or others/);
      expect(JSON.stringify(error)).not.toContain('not-a-real-key');
      expect((error as Error).message).not.toContain('PRIVATE KEY');
    } finally {
      await chmod(file('key.pem'), 0o600);
    }
  });

  it('refuses a CA or certificate others may write, a symlink, and a missing file', async () => {
    await chmod(file('ca.pem'), 0o666);
    try {
      await expect(readClientTlsFiles({ caFile: file('ca.pem') })).rejects.toThrow(
        /preparer\.ca_file: .*writable by group or others/,
      );
    } finally {
      await chmod(file('ca.pem'), 0o644);
    }
    await symlink(file('key.pem'), file('link.pem'));
    await expect(
      readClientTlsFiles({ certFile: file('cert.pem'), keyFile: file('link.pem') }),
    ).rejects.toThrow(/preparer\.key_file: .*symbolic link/);
    await expect(
      readClientTlsFiles({ certFile: file('missing.pem'), keyFile: file('key.pem') }),
    ).rejects.toThrow(/preparer\.cert_file: .*does not exist/);
  });
});
