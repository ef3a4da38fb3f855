/**
 * The etcd backend's client certificate options (a real etcd requiring client certificates is a
 * host test's business): the files reach etcd3's credentials, checked as the Consul backend does.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KvErrorCodes } from './errors.js';
import { etcdOptionsFromUrl, resolveEtcdOptions } from './etcd-options.js';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-kv-etcd-mtls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'cli.key',
      '-out',
      'cli.pem',
      '-days',
      '1',
      '-subj',
      '/CN=c',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  chmodSync(file('cli.key'), 0o600);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('passes ?cert=&key= to etcd3 as certChain/privateKey and implies https', () => {
  const url = new URL(`etcd://h:2379/?cert=${file('cli.pem')}&key=${file('cli.key')}`);
  const { clientOptions, description } = resolveEtcdOptions(
    etcdOptionsFromUrl(url, ['h:2379'], false, {}),
  );
  expect(clientOptions.credentials?.certChain?.equals(readFileSync(file('cli.pem')))).toBe(true);
  expect(clientOptions.credentials?.privateKey?.equals(readFileSync(file('cli.key')))).toBe(true);
  expect(description).toBe('etcd+https://h:2379');
});

it('refuses a key others may read and a certificate without its key', () => {
  chmodSync(file('cli.key'), 0o604);
  try {
    const attempt = (options: object) => {
      try {
        resolveEtcdOptions(options);
      } catch (e) {
        return e;
      }
    };
    const open = attempt({ tlsCertFile: file('cli.pem'), tlsKeyFile: file('cli.key') });
    expect(isP2Error(open, KvErrorCodes.BAD_OPTIONS)).toBe(true);
    expect((open as Error).message).toMatch(/readable by group or others/);
    const alone = attempt({ tlsCertFile: file('cli.pem') });
    expect(isP2Error(alone, KvErrorCodes.BAD_OPTIONS)).toBe(true);
  } finally {
    chmodSync(file('cli.key'), 0o600);
  }
});

it('refuses a CA file others could write, as the Consul backend does (it decides who gets the token)', () => {
  chmodSync(file('cli.pem'), 0o666);
  try {
    let error: unknown;
    try {
      resolveEtcdOptions({ tlsCaFile: file('cli.pem') });
    } catch (e) {
      error = e;
    }
    expect(isP2Error(error, KvErrorCodes.BAD_OPTIONS)).toBe(true);
    expect((error as Error).message).toMatch(
      /cannot use TLS CA file .*writable by group or others/,
    );
    expect((error as Error).message).not.toContain('BEGIN');
  } finally {
    chmodSync(file('cli.pem'), 0o644);
  }
  expect(
    resolveEtcdOptions({ tlsCaFile: file('cli.pem') }).clientOptions.credentials?.rootCertificate,
  ).toBeDefined();
});
