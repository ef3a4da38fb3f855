/**
 * P2's store-side entry points as operator scripts run them: the built p2-schedule, p2-inspect,
 * p2-label and p2-rm binaries against a p2-kv-server process, with P2's flags, P2's exact output
 * and P2's exit codes (0, or 1 for every failure). P2's store flags are checked against a second
 * server that wants HTTPS and an ACL token.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HealthStore, LabelStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates } from '../../packages/kv/src/test-support.js';
import { repoRoot, tempDir } from '../src/artifacts.js';
import { runCompatBinary } from '../src/compat.js';
import {
  freePort,
  type Proc,
  spawnLogged,
  startKvServerProcess,
  waitFor,
} from '../src/processes.js';

const APP = `https://artifacts.example.com/app_${'a'.repeat(40)}.tar.gz`;
const WEB = `id: p2t-web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${APP}\nconfig:\n  greeting: <hi>\n`;
const WEB_SHA = parseManifest(WEB).sha();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let work = '';
let kv: Proc & { url: string };
let consul = '';
let store: Store;

beforeAll(async () => {
  work = await tempDir('compat');
  await mkdir(join(work, 'logs'));
  const port = await freePort();
  kv = await startKvServerProcess(join(work, 'kv'), port, join(work, 'logs'));
  consul = `127.0.0.1:${port}`;
  store = createStore(`consul://${consul}`);
  await writeFile(join(work, 'web.yaml'), WEB);
  await writeFile(join(work, 'broken.yaml'), 'id: p2t-broken\nlaunchables: [\n');
});
afterAll(async () => {
  await store?.close();
  await kv?.stop();
  await rm(work, { recursive: true, force: true });
});

const p2 = (
  binary: Parameters<typeof runCompatBinary>[0],
  args: string[],
  options: { input?: string } = {},
) => runCompatBinary(binary, [...args, '--consul', consul], { ...options, cwd: work });
const value = async (key: string) => {
  const entry = (await store.get(key)).value;
  return entry ? new TextDecoder().decode(entry.value) : undefined;
};

describe('p2-schedule', () => {
  it('writes the manifest verbatim and prints one JSON line (empty key for a legacy pod)', async () => {
    const r = await p2('p2-schedule', ['web.yaml', '--node', 'n1']);
    expect(r).toEqual({
      code: 0,
      stdout: '{"pod_id":"p2t-web","pod_unique_key":""}\n',
      stderr: '',
    });
    expect(await value('intent/n1/p2t-web')).toBe(WEB);
    expect((await p2('p2-schedule', ['--node=n2', 'web.yaml'])).code).toBe(0);
  });

  it('--uuid-pod makes a uuid pod and prints its key', async () => {
    const r = await p2('p2-schedule', ['web.yaml', '--node', 'n3', '--uuid-pod']);
    expect(r.code, r.stderr).toBe(0);
    const line = JSON.parse(r.stdout) as { pod_id: string; pod_unique_key: string };
    expect(Object.keys(line)).toEqual(['pod_id', 'pod_unique_key']);
    expect(line.pod_id).toBe('p2t-web');
    expect(line.pod_unique_key).toMatch(UUID);
    expect(await value(`intent/n3/${line.pod_unique_key}`)).toBe(
      `{"pod_key":"${line.pod_unique_key}"}`,
    );
  });

  it('exits 1 without a manifest, for a missing or broken one, and for --hook', async () => {
    const none = await p2('p2-schedule', ['--node', 'n1']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("missing required argument 'manifest'");
    expect(none.stdout).toBe('');
    expect((await p2('p2-schedule', ['missing.yaml', '--node', 'n1'])).stderr).toContain(
      'no such file: missing.yaml',
    );
    expect((await p2('p2-schedule', ['broken.yaml', '--node', 'n1'])).code).toBe(1);
    const hook = await p2('p2-schedule', ['web.yaml', '--hook']);
    expect(hook.code).toBe(1);
    expect(hook.stderr).toContain('hooks_directory');
    expect(await value('intent/n9/p2t-broken')).toBeUndefined();
  });
});

describe('p2-inspect', () => {
  beforeAll(async () => {
    await store.put('reality/n1/p2t-web', WEB);
    await new HealthStore(store).put({
      podId: 'p2t-web',
      node: 'n1',
      service: 'p2t-web',
      status: 'passing',
      time: new Date().toISOString(),
      expires: '',
    });
  });

  const versions = `{"app":{"location":"${APP}","version":{"id":"${'a'.repeat(40)}"}}}`;
  const n1 = `"intent_manifest_sha":"${WEB_SHA}","reality_manifest_sha":"${WEB_SHA}","intent_versions":${versions},"reality_versions":${versions},"health":"passing","intent_locations":["${APP}"],"reality_locations":["${APP}"]`;
  const n2 = `"intent_manifest_sha":"${WEB_SHA}","reality_manifest_sha":"","intent_versions":${versions},"intent_locations":["${APP}"],"reality_locations":[]`;

  it('prints the tree by default: {pod: {node: status}} of legacy pods, as Go wrote it', async () => {
    const r = await p2('p2-inspect', ['--pod', 'p2t-web']);
    expect(r).toEqual({ code: 0, stdout: `{"p2t-web":{"n1":{${n1}},"n2":{${n2}}}}\n`, stderr: '' });
  });

  it('prints the list with node and pod, filtered by --node', async () => {
    const r = await p2('p2-inspect', ['--format', 'list', '--node', 'n2']);
    expect(r.stdout).toBe(`[{"node":"n2","pod":"p2t-web",${n2}}]\n`);
    expect((await p2('p2-inspect', ['--format=list', '--node', 'n1'])).stdout).toBe(
      `[{"node":"n1","pod":"p2t-web",${n1}}]\n`,
    );
  });

  it('prints {} for an unknown pod, and exits 1 for an unknown format', async () => {
    expect(await p2('p2-inspect', ['--pod', 'p2t-nothing'])).toEqual({
      code: 0,
      stdout: '{}\n',
      stderr: '',
    });
    const yaml = await p2('p2-inspect', ['--format', 'yaml']);
    expect(yaml.code).toBe(1);
    expect(yaml.stderr).toContain('Allowed choices are tree, list');
  });
});

describe('p2-label', () => {
  it('show prints <type>/<id>: k=v,… (sorted), flags before or after the subcommand', async () => {
    await new LabelStore(store).setLabels('node', 'n1', { zone: 'a', role: 'web' });
    await new LabelStore(store).setLabels('node', 'n2', { role: 'web' });
    expect(await p2('p2-label', ['show', '-t', 'node', '-i', 'n1'])).toEqual({
      code: 0,
      stdout: 'node/n1: role=web,zone=a\n',
      stderr: '',
    });
    const before = await runCompatBinary('p2-label', [
      `--consul=${consul}`,
      'show',
      '--labelType=node',
      '--id',
      'n9',
    ]);
    expect(before.stdout).toBe('node/n9: \n');
  });

  it('apply -y adds and deletes, printing the change and then each entity as show does', async () => {
    const r = await p2('p2-label', [
      'apply',
      '-t',
      'node',
      '-s',
      'role=web',
      '-a',
      'tier=1',
      '--add',
      'zone=b',
      '-d',
      'role',
      '-y',
    ]);
    expect(r).toEqual({
      code: 0,
      stdout:
        'labels to be added: tier=1,zone=b\nlabels to be removed: role\nnode/n1: tier=1,zone=b\nnode/n2: tier=1,zone=b\n',
      stderr: '',
    });
  });

  it('asks for each entity on stdin: y applies, n skips (exit 0), no answer fails (exit 1)', async () => {
    const args = ['apply', '-t', 'node', '-s', 'tier=1', '-a', 'asked=yes'];
    const answered = await p2('p2-label', args, { input: 'y\nn\n' });
    expect(answered.code, answered.stderr).toBe(0);
    expect(answered.stdout).toContain('Apply to node/n1? Type "y" to confirm [n]: \nnode/n1: ');
    expect(answered.stderr).toBe('node/n2 left unchanged\n');
    expect((await new LabelStore(store).get('node', 'n1')).labels.asked).toBe('yes');
    expect((await new LabelStore(store).get('node', 'n2')).labels.asked).toBeUndefined();

    const closed = await p2('p2-label', ['apply', '-t', 'node', '-i', 'n2', '-a', 'asked=no']);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain('no answer on standard input (pass -y');
    expect((await new LabelStore(store).get('node', 'n2')).labels.asked).toBeUndefined();
  });

  it('exits 1 on argument errors before changing anything', async () => {
    for (const args of [
      ['show', '-t', 'hosts', '-i', 'n1'],
      ['apply', '-t', 'node', '-i', 'n1', '-s', 'tier=1', '-a', 'x=1', '-y'],
      ['apply', '-t', 'node', '-i', 'n1', '-y'],
      ['apply', '-t', 'node', '-i', 'n1', '-a', 'bad key=1', '-y'],
      ['apply', '-t', 'node', '-s', 'tier in (', '-a', 'x=1', '-y'],
      ['show', '-t', 'node', '-i', 'n1', '--http-applicator-url', 'http://127.0.0.1:1'],
    ]) {
      const r = await p2('p2-label', args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/error/);
    }
    expect((await new LabelStore(store).get('node', 'n1')).labels).toEqual({
      tier: '1',
      zone: 'b',
      asked: 'yes',
    });
  });
});

describe('p2-rm', () => {
  it('removes a legacy pod and its labels: <node>: successfully removed <pod>', async () => {
    await new LabelStore(store).setLabels('pod', 'n2/p2t-web', { team: 'a' });
    expect(await p2('p2-rm', ['p2t-web', '--node', 'n2'])).toEqual({
      code: 0,
      stdout: 'n2: successfully removed p2t-web\n',
      stderr: '',
    });
    expect(await value('intent/n2/p2t-web')).toBeUndefined();
    expect(await value('labels/pod/n2/p2t-web')).toBeUndefined();
    const again = await p2('p2-rm', ['p2t-web', '--node', 'n2']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not scheduled on n2');
  });

  it('refuses a pod a replication controller placed unless --deallocate, which shrinks it', async () => {
    const m = parseManifest('id: p2t-owned\n');
    const rcs = new RcStore(store);
    const rc = await rcs.create({ manifest: m, nodeSelector: '', replicasDesired: 2 });
    await store.put('intent/n4/p2t-owned', m.raw);
    await new LabelStore(store).setLabels('pod', 'n4/p2t-owned', {
      replication_controller_id: rc.id,
    });
    const refused = await p2('p2-rm', ['p2t-owned', '--node', 'n4']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`replication controller ${rc.id}`);
    expect(refused.stderr).toContain('--deallocate');
    expect(await value('intent/n4/p2t-owned')).toBeDefined();

    const done = await p2('p2-rm', ['p2t-owned', '--node', 'n4', '--deallocate']);
    expect(done).toEqual({ code: 0, stdout: 'n4: successfully removed p2t-owned\n', stderr: '' });
    expect(await value('intent/n4/p2t-owned')).toBeUndefined();
    expect((await rcs.get(rc.id)).rc.replicasDesired).toBe(1);
  });

  it('removes a pod whose controller is gone only with --remove-orphan', async () => {
    await store.put('intent/n4/p2t-orphan', 'id: p2t-orphan\n');
    await new LabelStore(store).setLabels('pod', 'n4/p2t-orphan', {
      replication_controller_id: '0f0f0f0f-0000-4000-8000-000000000000',
    });
    const refused = await p2('p2-rm', ['p2t-orphan', '--node', 'n4']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--remove-orphan');
    expect((await p2('p2-rm', ['p2t-orphan', '--node', 'n4', '--remove-orphan'])).stdout).toBe(
      'n4: successfully removed p2t-orphan\n',
    );
  });

  it('removes a uuid pod named by -k when POD matches, or when confirmed', async () => {
    const scheduled = async () =>
      JSON.parse((await p2('p2-schedule', ['web.yaml', '--node', 'n5', '--uuid-pod'])).stdout)
        .pod_unique_key as string;
    const uuid = await scheduled();
    const wrong = await p2('p2-rm', ['p2t-other', '-k', uuid]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`is pod p2t-web, not p2t-other`);
    expect(await p2('p2-rm', ['p2t-web', '-k', uuid])).toEqual({
      code: 0,
      stdout: `successfully removed p2t-web-${uuid}\n`,
      stderr: '',
    });
    expect(await value(`pods/${uuid}`)).toBeUndefined();
    expect(await value(`intent/n5/${uuid}`)).toBeUndefined();

    const asked = await scheduled();
    const unanswered = await p2('p2-rm', ['--pod-unique-key', asked]);
    expect(unanswered.code).toBe(1);
    expect(unanswered.stdout).toContain('Type "y" to confirm [n]: ');
    expect(await value(`pods/${asked}`)).toBeDefined();
    const confirmed = await p2('p2-rm', ['-k', asked], { input: 'yes\n' });
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toMatch(new RegExp(`\\nsuccessfully removed p2t-web-${asked}\\n$`));
    expect(await value(`pods/${asked}`)).toBeUndefined();
  });

  it('exits 1 for --node with -k, and without a pod', async () => {
    expect(
      (await p2('p2-rm', ['-k', '0f0f0f0f-0000-4000-8000-000000000000', '--node', 'n1'])).code,
    ).toBe(1);
    expect((await p2('p2-rm', [])).code).toBe(1);
  });
});

describe("P2's store flags", () => {
  const token = `p2t-${randomBytes(8).toString('hex')}`;
  let secure: Proc;
  let address = '';
  let certs = '';

  beforeAll(async () => {
    certs = join(work, 'certs');
    await mkdir(certs, { mode: 0o700 });
    makeTestCertificates(certs);
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    secure = spawnLogged(
      process.execPath,
      [
        join(repoRoot, 'packages/kv-server/dist/cli.js'),
        '--data-dir',
        join(work, 'kv-secure'),
        '--port',
        String(port),
        '--tls-cert',
        join(certs, 'srv.pem'),
        '--tls-key',
        join(certs, 'srv.key'),
      ],
      join(work, 'logs', 'kv-secure.log'),
      { P2_KV_ACL_TOKEN: token },
    );
    await waitFor('the HTTPS store to answer', async () => {
      const r = await runCompatBinary('p2-inspect', [
        '--consul',
        address,
        '--https',
        '--tls-ca-file',
        join(certs, 'ca.pem'),
        '--token',
        token,
      ]);
      return r.code === 0;
    });
    await writeFile(join(work, 'token'), `${token}\n`, { mode: 0o600 });
    await chmod(join(work, 'token'), 0o600);
  });
  afterAll(async () => {
    await secure?.stop();
  });

  const tls = () => ['--consul', address, '--https', '--tls-ca-file', join(certs, 'ca.pem')];

  it('--https, --tls-ca-file and --token-file reach a store that wants TLS and a token', async () => {
    const r = await runCompatBinary('p2-schedule', [
      join(work, 'web.yaml'),
      '--node',
      'n1',
      ...tls(),
      '--token-file',
      join(work, 'token'),
      '--wait',
      '5s',
    ]);
    expect(r).toEqual({
      code: 0,
      stdout: '{"pod_id":"p2t-web","pod_unique_key":""}\n',
      stderr: '',
    });
  });

  it('without the token the store refuses, and the binary says so and exits 1', async () => {
    const r = await runCompatBinary('p2-inspect', tls(), {
      env: { P2_TOKEN_FILE: join(work, 'none') },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the store refused the request');
  });

  it('without --https the TLS store cannot be read (exit 1)', async () => {
    const r = await runCompatBinary('p2-inspect', ['--consul', address, '--token', token]);
    expect(r.code).toBe(1);
  });

  it('refuses a header carrying the token, a unix socket, --token with --token-file, and a bad --wait', async () => {
    const proxied = await runCompatBinary('p2-inspect', [...tls(), '--header', 'X-Proxy=1']);
    expect(proxied.code, proxied.stderr).toBe(0);
    for (const extra of [
      ['--header', 'X-Consul-Token=other'],
      ['--consul', 'unix:///run/consul.sock'],
      ['--token', token, '--token-file', join(work, 'token')],
      ['--wait', 'soon'],
    ]) {
      const r = await runCompatBinary('p2-inspect', [...tls(), ...extra]);
      expect(r.code, extra.join(' ')).toBe(1);
      expect(r.stdout, extra.join(' ')).toBe('');
    }
  });

  it('warns that --http-applicator-url is ignored by p2-rm, as P2’s ignored it', async () => {
    const r = await runCompatBinary('p2-rm', [
      'p2t-web',
      '--node',
      'n1',
      ...tls(),
      '--token',
      token,
      '--http-applicator-url',
      'http://127.0.0.1:1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('n1: successfully removed p2t-web\n');
    expect(r.stderr).toContain('--http-applicator-url is ignored, as P2’s p2-rm ignored it');
  });
});
