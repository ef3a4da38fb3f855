/**
 * Pre-staging on a real host (issue 21): runit, a Unix user, artifacts served over HTTP. A staged
 * version lands in installs/ while the running one keeps running untouched; pruning keeps it; the
 * deploy that follows downloads nothing. Needs root; names start with p2t- and are removed after.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, cp, mkdtemp, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { RunsvDir, readStatus } from '@p2/runit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FileServer, serveDirectory } from '../../../test-support/file-server.js';
import { cleanUpHostTest, freePort } from '../../../test-support/host-test.js';
import { until } from '../../../test-support/until.js';
import { PodHost } from './pod-host.js';

const run = promisify(execFile);
const helloApp = new URL('../../../examples/hello-app', import.meta.url).pathname;
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-stage-${suffix}`;
const node = `p2t-node-${suffix}`;

let work: string;
let server: FileServer | undefined;
let baseUrl: string;
let runsvdir: RunsvDir;
let host: PodHost;

async function artifact(tag: string): Promise<string> {
  const src = join(work, `src-${tag}`);
  await cp(helloApp, src, { recursive: true });
  await writeFile(join(src, 'VERSION'), tag);
  const name = `hello_${createHash('sha1').update(tag).digest('hex')}.tar.gz`;
  await run('tar', ['-czf', join(work, 'artifacts', name), '-C', src, '.']);
  return `${baseUrl}/${name}`;
}

function manifestFor(location: string, port: number, greeting: string): Manifest {
  return new ManifestBuilder()
    .setId(podId)
    .setLaunchable('app', { launchableType: 'hoist', location, restartTimeout: '5s' })
    .setConfig({ port, greeting })
    .build();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-stage-'));
  await run('mkdir', ['-p', join(work, 'artifacts'), join(work, 'pods'), join(work, 'service')]);
  await chmod(work, 0o755);
  server = await serveDirectory(join(work, 'artifacts'));
  baseUrl = server.url;
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 2 });
  await runsvdir.start();
  host = new PodHost({ podRoot: join(work, 'pods'), nodeName: node, runsvdir, cgroups: false });
});

afterAll(async () => {
  await server?.close();
  await cleanUpHostTest({ runsvdir, node, pods: [podId], users: [podId], dir: work });
});

describe('PodHost.stage', () => {
  it('stages beside a running version without touching it; pruning keeps the staged install; the deploy downloads nothing', async () => {
    const port = await freePort();
    const m1 = manifestFor(await artifact('v1'), port, 'hello v1');
    await host.install(m1);
    await host.launch(m1);
    const layout = host.layout({ podId });
    const service = join(runsvdir.root, `${podId}__app__launch`);
    const pid = await until('the service running', async () => (await readStatus(service)).pid);
    const currentBefore = await readlink(layout.currentLink('app'));
    const configPath = await readFile(join(layout.envDir, 'CONFIG_PATH'), 'utf8');
    const configBefore = await readFile(configPath, 'utf8');

    // An older staged version, then the one a rollout will deploy: the mark follows the newer.
    const m3 = manifestFor(await artifact('v3'), port, 'hello v3');
    await host.stage(m3);
    const m2 = manifestFor(await artifact('v2'), port, 'hello v2');
    const staged = await host.stage(m2);
    const stagedDir = staged.launchables[0]?.installDir ?? '';
    expect(staged.launchables[0]?.alreadyInstalled).toBe(false);
    expect(await readFile(join(stagedDir, 'VERSION'), 'utf8')).toBe('v2');

    // Nothing of the running pod moved: link, config, env, process.
    expect(await readlink(layout.currentLink('app'))).toBe(currentBefore);
    expect(await readFile(configPath, 'utf8')).toBe(configBefore);
    expect(await readFile(join(layout.envDir, 'CONFIG_PATH'), 'utf8')).toBe(configPath);
    expect((await readStatus(service)).pid).toBe(pid);

    // A disk limit of one byte removes everything but current and the staged install.
    const tight = new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: false,
      maxLaunchableDiskUsage: 1,
    });
    const removed = await tight.pruneInstalls(m1);
    expect(removed).toHaveLength(1);
    expect(
      (await readdir(layout.installsDir('app'))).filter((n) => !n.startsWith('.')).sort(),
    ).toEqual([basename(currentBefore), basename(stagedDir)].sort());

    // The deploy: no download, and the staged mark is spent (current keeps the install now).
    const fetched = server?.requests.length ?? 0;
    const installed = await host.install(m2);
    expect(installed.launchables[0]?.alreadyInstalled).toBe(true);
    expect(server?.requests.length ?? 0).toBe(fetched);
    expect(await readdir(layout.launchableRoot('app'))).not.toContain('.staged');
  });

  it('refuses what a deploy would refuse, before any path: a bad launchable id, a missing artifact', async () => {
    const port = await freePort();
    const bad = new ManifestBuilder()
      .setId(podId)
      .setLaunchable('../x', { launchableType: 'hoist', location: `${baseUrl}/nope.tar.gz` })
      .build();
    await expect(host.stage(bad)).rejects.toMatchObject({ code: 'P2_PODS_INVALID_LAUNCHABLE_ID' });
    const missing = manifestFor(`${baseUrl}/missing.tar.gz`, port, 'x');
    await expect(host.stage(missing)).rejects.toMatchObject({ code: 'P2_PODS_INSTALL_FAILED' });
    expect(await readdir(join(work, 'pods'))).not.toContain('x');
  });
});
