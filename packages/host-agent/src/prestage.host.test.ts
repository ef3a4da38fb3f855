/**
 * Pre-staging through the store, for real: a kv-server, a PodHost as root, artifacts served over
 * HTTP. An authorized request is staged and answered `staged`, and the deploy that follows
 * downloads nothing; an unauthorized one is answered `failed` before any byte is fetched or any
 * path made. Needs root; names start with p2t- and everything is removed afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PrestageReport, PrestageStore } from '@p2/keyspace';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { PodHost } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FileServer, serveDirectory } from '../../../test-support/file-server.js';
import { cleanUpHostTest } from '../../../test-support/host-test.js';
import { until } from '../../../test-support/until.js';
import { startTestStore, type TestStore } from '../../keyspace/src/test-support.js';
import { Prestager } from './prestage.js';

const run = promisify(execFile);
const helloApp = new URL('../../../examples/hello-app', import.meta.url).pathname;
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-pst-${suffix}`;
const refused = `p2t-pstx-${suffix}`;
const withdrawn = `p2t-pstw-${suffix}`;
const node = `p2t-node-pst-${suffix}`;

let work: string;
let server: FileServer | undefined;
let baseUrl: string;
let runsvdir: RunsvDir;
let host: PodHost;
let t: TestStore;
const controller = new AbortController();
let running: Promise<void> = Promise.resolve();
let prestager: Prestager;

function manifestFor(id: string, location: string): Manifest {
  return new ManifestBuilder()
    .setId(id)
    .setLaunchable('app', { launchableType: 'hoist', location })
    .setConfig({ greeting: 'hi' })
    .build();
}

async function reportOf(pod: string, sha: string, state: PrestageReport['state']) {
  const prestage = new PrestageStore(t.store);
  return until(`${pod} ${state}`, async () => {
    const report = await prestage.report(node, pod);
    return report?.sha === sha && report.state === state ? report : undefined;
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-pst-'));
  await run('mkdir', ['-p', join(work, 'artifacts'), join(work, 'pods'), join(work, 'service')]);
  await chmod(work, 0o755);
  const src = join(work, 'src');
  await cp(helloApp, src, { recursive: true });
  await writeFile(join(src, 'VERSION'), 'v2');
  await run('tar', ['-czf', join(work, 'artifacts', 'hello_v2.tar.gz'), '-C', src, '.']);
  server = await serveDirectory(join(work, 'artifacts'));
  baseUrl = server.url;
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 2 });
  await runsvdir.start();
  host = new PodHost({ podRoot: join(work, 'pods'), nodeName: node, runsvdir, cgroups: false });
  t = await startTestStore();
  prestager = new Prestager({
    node,
    store: t.store,
    host,
    // The deployer policy is the preparer's to pass in: here, one that refuses one pod.
    authorize: async (manifest) => {
      if (manifest.id === refused) throw new Error('signer not allowed for this pod');
    },
    logger: pino({ level: 'silent' }),
  });
  running = prestager.run(controller.signal);
});

afterAll(async () => {
  controller.abort();
  await running;
  await t?.cleanup();
  await server?.close();
  await cleanUpHostTest({
    runsvdir,
    node,
    pods: [podId, withdrawn],
    users: [podId, withdrawn],
    dir: work,
  });
});

describe('Prestager', () => {
  it('stages an authorized request and answers staged; the deploy then downloads nothing', async () => {
    const manifest = manifestFor(podId, `${baseUrl}/hello_v2.tar.gz`);
    await new PrestageStore(t.store).request(node, manifest);
    await reportOf(podId, manifest.sha(), 'staged');
    expect((server?.requests ?? []).filter((r) => r === '/hello_v2.tar.gz')).toHaveLength(1);
    const layout = host.layout({ podId });
    expect(existsSync(layout.currentLink('app'))).toBe(false);
    const fetched = server?.requests.length ?? 0;
    const installed = await host.install(manifest);
    expect(installed.launchables[0]?.alreadyInstalled).toBe(true);
    expect(server?.requests.length ?? 0).toBe(fetched);
    // Deployed here: the request is used up, so it and its answer go.
    await prestager.deployed(manifest);
    expect((await t.store.get(`prestage/${node}/${podId}`)).value).toBeUndefined();
    expect(await new PrestageStore(t.store).report(node, podId)).toBeUndefined();
  });

  it('a withdrawn request drops the staged mark (pruning may take the install); the install stays', async () => {
    const manifest = manifestFor(withdrawn, `${baseUrl}/hello_v2.tar.gz`);
    const prestage = new PrestageStore(t.store);
    await prestage.request(node, manifest);
    await reportOf(withdrawn, manifest.sha(), 'staged');
    const mark = join(host.layout({ podId: withdrawn }).launchableRoot('app'), '.staged');
    expect(existsSync(mark)).toBe(true);
    await prestage.cancel(node, withdrawn);
    await until('the staged mark to go', async () => !existsSync(mark));
    const installs = join(host.layout({ podId: withdrawn }).launchableRoot('app'), 'installs');
    expect(existsSync(installs)).toBe(true);
  });

  it('refuses an unauthorized request before fetching anything or making any path', async () => {
    const manifest = manifestFor(refused, `${baseUrl}/hello_v2.tar.gz?x=1`);
    const fetched = server?.requests.length ?? 0;
    await new PrestageStore(t.store).request(node, manifest);
    const report = await reportOf(refused, manifest.sha(), 'failed');
    expect(report.reason).toMatch(/^not authorized: .*signer not allowed/);
    expect(server?.requests.length ?? 0).toBe(fetched);
    expect(existsSync(join(work, 'pods', refused))).toBe(false);
  });

  it('answers failed for a manifest stored under another pod id', async () => {
    const manifest = manifestFor(podId, `${baseUrl}/hello_v2.tar.gz`);
    await t.store.put(`prestage/${node}/p2t-other-${suffix}`, manifest.raw);
    const report = await reportOf(`p2t-other-${suffix}`, manifest.sha(), 'failed');
    expect(report.reason).toContain('differs from the key');
  });
});
