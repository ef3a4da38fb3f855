/**
 * The store flags every store-using `p2` command has, against real servers that require a client
 * certificate: `p2-kv-server --tls-client-ca` as a process, and etcd with `--client-cert-auth`.
 * `--ca-file`/`--cert-file`/`--key-file` (and Consul's CONSUL_CACERT, CONSUL_CLIENT_CERT,
 * CONSUL_CLIENT_KEY), `--token-file` (CONSUL_HTTP_TOKEN_FILE) and `--header`, whose values never
 * show. Host test: etcd is the Debian etcd-server binary.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcd } from '../../../../packages/kv/src/etcd-test-support.js';
import { makeTestCertificates } from '../../../../packages/kv/src/test-support.js';
import {
  type ServerProcess,
  spawnServer,
} from '../../../../packages/kv-server/src/test-process.js';
import { runCli } from '../program.js';
import { capture } from '../test-support.js';

const TOKEN = 'p2t-2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e0b';
const SECRET = 'p2t-header-s3cret';
let dir = '';
let kv: ServerProcess;
let etcd: EtcdCluster;
let kvUrl = '';
const file = (name: string) => join(dir, name);

async function p2(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = capture();
  const code = await runCli(args, { io, cwd: dir, env });
  return { code, out: io.out, err: io.err };
}

const tls = () => ['--ca-file', 'ca.pem', '--cert-file', 'cli.pem', '--key-file', 'cli.key'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-cli-tls-'));
  makeTestCertificates(dir, { client: true });
  await writeFile(file('token'), `${TOKEN}\n`, { mode: 0o600 });
  kv = await spawnServer(file('kv'), 0, [
    '--tls-cert',
    file('srv.pem'),
    '--tls-key',
    file('srv.key'),
    '--tls-client-ca',
    file('ca.pem'),
    '--acl-token-file',
    file('token'),
  ]);
  kvUrl = `consul+https://127.0.0.1:${kv.port}`;
  etcd = await startEtcd(1, {
    certFile: file('srv.pem'),
    keyFile: file('srv.key'),
    caFile: file('ca.pem'),
    clientCert: { certFile: file('cli.pem'), keyFile: file('cli.key') },
  });
}, 60_000);

afterAll(async () => {
  await kv?.stop();
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** `p2 kv get p2t/k` on the kv-server with these flags (words split on spaces) and variables. */
const kvGet = (flags: string, env: NodeJS.ProcessEnv = {}) =>
  p2(['kv', 'get', 'p2t/k', '--store', kvUrl, ...flags.split(' ').filter(Boolean)], env);

describe('p2 against p2-kv-server --tls-client-ca', () => {
  it('works with --ca-file, --cert-file, --key-file and --token-file', async () => {
    const put = await p2([
      'kv',
      'put',
      'p2t/k',
      'v1',
      '--store',
      kvUrl,
      ...tls(),
      '--token-file',
      'token',
    ]);
    expect(put.code, put.err).toBe(ExitCode.OK);
    const get = await kvGet(`${tls().join(' ')} --token-file token`);
    expect(get.code, get.err).toBe(ExitCode.OK);
    expect(get.out).toBe('v1');
  });

  it("takes P2's flag spellings: --tls-ca-file, --tls-cert-file, --tls-key-file, --header Name=value", async () => {
    const get = await kvGet(
      '--tls-ca-file ca.pem --tls-cert-file cli.pem --tls-key-file cli.key --token-file token --header X-Request-Source=p2t',
    );
    expect(get.code, get.err).toBe(ExitCode.OK);
    expect(get.out).toBe('v1');
  });

  it("takes Consul's variables: CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_HTTP_TOKEN_FILE", async () => {
    const get = await kvGet('', {
      CONSUL_CACERT: file('ca.pem'),
      CONSUL_CLIENT_CERT: file('cli.pem'),
      CONSUL_CLIENT_KEY: file('cli.key'),
      CONSUL_HTTP_TOKEN_FILE: file('token'),
    });
    expect(get.code, get.err).toBe(ExitCode.OK);
    expect(get.out).toBe('v1');
  });

  it('without a client certificate: refused, saying the store requires one', async () => {
    const r = await kvGet('--ca-file ca.pem --token-file token');
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toContain('P2_KV_UNAVAILABLE');
    expect(r.err).toMatch(/hint: the store requires a client certificate/);
  });

  it('a key file others may read, or a certificate without its key: refused before any request', async () => {
    await writeFile(file('open.key'), '', { mode: 0o644 });
    const open = await kvGet('--ca-file ca.pem --cert-file cli.pem --key-file open.key');
    expect(open.code).toBe(ExitCode.USAGE);
    expect(open.err).toMatch(/open\.key is readable by group or others/);
    const alone = await kvGet('--cert-file cli.pem');
    expect(alone.code).toBe(ExitCode.USAGE);
    expect(alone.err).toContain('go together');
  });

  it('sends --header with every request; a header never carries the token and no value is ever printed', async () => {
    const ok = await p2([
      'kv',
      'get',
      'p2t/k',
      '--store',
      kvUrl,
      ...tls(),
      '--token-file',
      'token',
      '--header',
      `X-Tenant: ${SECRET}`,
      '--header',
      'X-Request-Source: p2t',
    ]);
    expect(ok.code, ok.err).toBe(ExitCode.OK);
    for (const header of [`X-Consul-Token: ${SECRET}`, `Authorization: Bearer ${SECRET}`]) {
      const r = await p2([
        'kv',
        'get',
        'p2t/k',
        '--store',
        kvUrl,
        ...tls(),
        '--header',
        header,
        '--json',
      ]);
      expect(r.code).toBe(ExitCode.USAGE);
      expect(`${r.out}${r.err}`).toContain('P2_KV_BAD_OPTIONS');
      expect(`${r.out}${r.err}`).toContain("would replace the store's ACL token");
      expect(`${r.out}${r.err}`).not.toContain(SECRET);
    }
    const malformed = await p2(['kv', 'get', 'p2t/k', '--store', kvUrl, '--header', SECRET]);
    expect(malformed.code).toBe(ExitCode.USAGE);
    expect(malformed.err).toContain('--header #1 is not "Name: value"');
    expect(malformed.err).not.toContain(SECRET);
    // A failing request names the store, never the headers sent.
    const down = await p2([
      'kv',
      'get',
      'p2t/k',
      '--store',
      'consul://127.0.0.1:1',
      '--header',
      `X-Tenant: ${SECRET}`,
    ]);
    expect(down.code).toBe(ExitCode.FAILURE);
    expect(down.err).not.toContain(SECRET);
  });
});

describe('p2 against etcd --client-cert-auth', () => {
  const store = () => `etcd+https://${etcd.endpoints[0]}/p2t`;

  it('works with --cert-file and --key-file', async () => {
    const put = await p2(['kv', 'put', 'mtls/k', 'from p2', '--store', store(), ...tls()]);
    expect(put.code, put.err).toBe(ExitCode.OK);
    const get = await p2(['kv', 'get', 'mtls/k', '--store', store(), ...tls()]);
    expect(get.out).toBe('from p2');
  });

  it('without a client certificate: refused, saying the store requires one', async () => {
    const r = await p2(['kv', 'get', 'mtls/k', '--store', store(), '--ca-file', 'ca.pem']);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toContain('P2_KV_UNAVAILABLE');
    expect(r.err).toMatch(/hint: the store requires a client certificate/);
  });
});
