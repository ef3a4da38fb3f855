/**
 * Container pods for real: a busybox OCI bundle served over HTTP, installed like a hoist artifact,
 * run by runc under runit as the pod's user in its own pid and mount namespaces and its
 * launchable's cgroup, updated, refused field by field, and removed without leftovers. Needs
 * root and runc. Every name starts with p2t- and everything is removed even when a test fails.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Manifest, parseManifest } from '@p2/manifest';
import { containerState, listContainers } from '@p2/runc';
import { findUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxConfig, writeBusyboxBundle } from '../../../test-support/busybox-bundle.js';
import { until } from '../../../test-support/until.js';
import {
  type ContainerTestBed,
  httpGet,
  refusal,
  runAs,
  startContainerTestBed,
} from './container-test-support.js';
import type { PodHost } from './pod-host.js';

const run = promisify(execFile);
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-ctr-${suffix}`;
const node = `p2t-node-${suffix}`;

let bed: ContainerTestBed | undefined;
let work: string;
let baseUrl: string;
let runsvdir: ContainerTestBed['runsvdir'];
let host: PodHost;
let runc: ContainerTestBed['runc'];
let user: { uid: number; gid: number };
let port: number;
let versions = 0;
let m1: Manifest;

/** A bundle tarball served by the test server whose `/www/_status` says `status`. */
async function bundle(status: string, config: Record<string, unknown>): Promise<string> {
  const name = `bundle-${++versions}`;
  const src = await writeBusyboxBundle(join(work, name), config);
  await mkdir(join(src, 'rootfs/www'), { recursive: true });
  await writeFile(join(src, 'rootfs/www/_status'), status);
  // `<name>_<40 hex>.tar.gz`: each bundle a version of its own (an install dir of its own).
  const file = `bundle_${createHash('sha1').update(name).digest('hex')}.tar.gz`;
  await run('tar', ['-czf', join(work, 'artifacts', file), '-C', src, '.']);
  return `${baseUrl}/${file}`;
}

/** The app: records what it sees in its data dir, then serves `/www` (so `/_status`) on the status port. */
const appArgs = () => [
  '/bin/sh',
  '-c',
  [
    'id -u > $HOME/uid',
    'echo $$ > $HOME/pid',
    'readlink /proc/self/ns/mnt > $HOME/mntns',
    'cat /proc/self/cgroup > $HOME/cgroup',
    'cat $CONFIG_PATH > $HOME/config',
    '(echo x >> $CONFIG_PATH) 2>/dev/null || echo read-only > $HOME/config-ro',
    `exec httpd -f -p 127.0.0.1:${port} -h /www`,
  ].join('; '),
];
/** Allocates past its 32 MiB limit at once, as pid 1. */
const hogArgs = ['/bin/sh', '-c', 'exec dd if=/dev/zero of=/dev/null bs=96M count=1'];

function manifestFor(app: string, hog?: string): Manifest {
  const hogStanza = hog
    ? `  hog:\n    launchable_type: opencontainer\n    location: ${hog}\n    restart_policy: never\n    cgroup: {cpus: 1, memory: 32M}\n`
    : '';
  return parseManifest(
    `id: ${podId}\nrun_as: ${podId}\nstatus_port: ${port}\nstatus_http: true\nconfig: {greeting: hello}\nlaunchables:\n  app:\n    launchable_type: opencontainer\n    location: ${app}\n    restart_timeout: 5s\n    cgroup: {cpus: 1, memory: 64M}\n${hogStanza}`,
  );
}

const get = (path: string) => httpGet(port, path);

beforeAll(async () => {
  bed = await startContainerTestBed(podId, node, 'p2t-ctr-');
  ({ work, baseUrl, runsvdir, host, runc, port } = bed);
});

afterAll(async () => {
  await bed?.close(['app', 'hog']);
});

describe('container pods (real runc)', () => {
  it('refuses a bundle that runs as another user (root) at install, naming the field', async () => {
    const error = await refusal(
      host.install(
        manifestFor(await bundle('v0', busyboxConfig({ uid: 0, gid: 0 }, ['/bin/true']))),
      ),
    );
    expect(error.code).toBe('P2_PODS_CONTAINER_REFUSED');
    expect(error.details.field).toBe('process.user.uid');
    const found = await findUser(podId);
    user = { uid: found?.uid ?? -1, gid: found?.gid ?? -1 };
    expect(user.uid).toBeGreaterThan(0);
  });

  it("runs as the pod's user in its own pid and mount namespaces, in the pod's cgroup, serving /_status", async () => {
    m1 = manifestFor(
      await bundle('v1', busyboxConfig(user, appArgs())),
      await bundle('hog', busyboxConfig(user, hogArgs)),
    );
    await host.install(m1);
    await host.launch(m1);
    expect(await until('/_status', () => get('/_status'))).toBe('v1');
    const data = host.layout({ podId }).dataDir;
    const seen = async (file: string) => (await readFile(join(data, file), 'utf8')).trim();
    expect(await seen('uid')).toBe(String(user.uid));
    expect(await seen('pid')).toBe('1');
    expect(await seen('mntns')).not.toBe(await readlink('/proc/self/ns/mnt'));
    expect(await seen('cgroup')).toMatch(new RegExp(`memory:/${podId}__app/container$`, 'm'));
    expect(await seen('config')).toContain('greeting: hello');
    expect(await seen('config-ro')).toBe('read-only');
    // Seen from the host: runc's container, its init the pod's user, in the launchable's child cgroup.
    const state = await containerState(runc, `${podId}__app`);
    expect(state?.status).toBe('running');
    const status = await readFile(`/proc/${state?.pid}/status`, 'utf8');
    expect(status).toMatch(
      new RegExp(`^Uid:\\t${user.uid}\\t${user.uid}\\t${user.uid}\\t${user.uid}$`, 'm'),
    );
    expect(status).toMatch(/^NoNewPrivs:\t1$/m);
    const procs = await readFile(
      `/sys/fs/cgroup/memory/${podId}__app/container/cgroup.procs`,
      'utf8',
    );
    expect(procs.split('\n')).toContain(String(state?.pid));
  });

  it('enforces the memory limit: an allocation past it is OOM-killed and the exit is recorded', async () => {
    const service = join(runsvdir.root, `${podId}__hog__container`);
    const last = await until(
      'the hog exit',
      async () =>
        JSON.parse(await readFile(join(service, 'last-exit.json'), 'utf8')) as Record<
          string,
          unknown
        >,
    );
    expect(last).toMatchObject({
      podId,
      launchableId: 'hog',
      entryPoint: 'container',
      exitCode: 137,
    });
    // The launchable's cgroup (the container's parent) is where the limit was hit: the 96 MiB
    // allocation never got past it.
    const memory = async (file: string) =>
      Number(await readFile(`/sys/fs/cgroup/memory/${podId}__hog/memory.${file}`, 'utf8'));
    expect(await memory('limit_in_bytes')).toBeLessThan(96 * 2 ** 20);
    expect(await memory('max_usage_in_bytes')).toBe(await memory('limit_in_bytes'));
  });

  it('a hostile pod cannot modify its rootfs or the generated config.json', async () => {
    const installDir = await readlink(
      join(host.layout({ podId }).launchableRoot('app'), 'current'),
    );
    const spec = join(work, 'containers', podId, 'app', 'config.json');
    expect(existsSync(spec)).toBe(true);
    const asPod = (script: string) => runAs(user, script);
    const rootfs = join(host.layout({ podId }).installsDir('app'), installDir, 'rootfs');
    expect(await asPod(`touch ${rootfs}/bin/evil`)).toBe('refused');
    expect(await asPod(`echo x > ${rootfs}/www/_status`)).toBe('refused');
    expect(await asPod(`echo {} > ${spec}`)).toBe('refused');
    expect(await asPod(`cat ${spec}`)).toBe('refused');
    expect((await stat(spec)).uid).toBe(0);
  });

  it('p2 exec runs a command inside the running container, as its process runs', async () => {
    const plan = await host.execPlan(m1, {
      launchableId: 'app',
      command: ['/bin/sh', '-c', 'id -u; cat /proc/1/cmdline; echo; cat $CONFIG_PATH'],
    });
    const { stdout } = await run(plan.file, plan.args, { env: plan.env });
    const [uid, init, ...config] = stdout.split('\n');
    expect(uid).toBe(String(user.uid));
    // pid 1 of the container's namespace is its httpd, not the host's init.
    expect(init).toContain('httpd');
    expect(config.join('\n')).toContain('greeting: hello');
  });

  const refused: Array<[string, Record<string, unknown>, string]> = [
    [
      'extra capabilities',
      {
        process: {
          ...(busyboxConfig({ uid: 1, gid: 1 }, ['/bin/true']).process as object),
          capabilities: { bounding: ['CAP_SYS_ADMIN'] },
        },
      },
      'process.capabilities.bounding[0]',
    ],
    ['OCI hooks', { hooks: { prestart: [{ path: '/bin/true' }] } }, 'hooks.prestart'],
    [
      'a host path mount',
      { mounts: [{ destination: '/etc/host', type: 'bind', source: '/etc', options: ['rbind'] }] },
      'mounts[0].source',
    ],
    [
      'the host pid namespace',
      { linux: { namespaces: [{ type: 'ipc' }, { type: 'mount' }] } },
      'linux.namespaces',
    ],
    [
      'the host ipc namespace',
      { linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] } },
      'linux.namespaces',
    ],
    [
      'noNewPrivileges false',
      {
        process: {
          ...(busyboxConfig({ uid: 1, gid: 1 }, ['/bin/true']).process as object),
          noNewPrivileges: false,
        },
      },
      'process.noNewPrivileges',
    ],
  ];
  for (const [what, patch, field] of refused) {
    it(`refuses ${what} (${field}) and the running version keeps running`, async () => {
      const config = busyboxConfig(user, ['/bin/true'], patch);
      // The patches' own process stanzas are for the pod's user too.
      (config.process as { user: unknown }).user = user;
      const error = await refusal(host.install(manifestFor(await bundle('refused', config))));
      expect(error.code).toBe('P2_PODS_CONTAINER_REFUSED');
      expect(error.details.field).toBe(field);
      expect(await get('/_status')).toBe('v1');
    });
  }

  it('updates v1 → v2', async () => {
    const m2 = manifestFor(await bundle('v2', busyboxConfig(user, appArgs())));
    await host.install(m2);
    await host.launch(m2);
    expect(
      await until('v2', async () => ((await get('/_status')) === 'v2' ? true : undefined)),
    ).toBe(true);
    // The hog launchable left with v1: its service is gone.
    expect(existsSync(join(runsvdir.root, `${podId}__hog__container`))).toBe(false);
  });

  it('is removed without leftovers: no container, no cgroup, no spec', async () => {
    await host.uninstall({ podId });
    expect((await listContainers(runc)).filter((c) => c.id.startsWith(podId))).toEqual([]);
    for (const mount of await readdir('/sys/fs/cgroup'))
      expect([mount, existsSync(join('/sys/fs/cgroup', mount, `${podId}__app`))]).toEqual([
        mount,
        false,
      ]);
    expect(existsSync(join(work, 'containers', podId))).toBe(false);
    expect(await get('/_status')).toBeUndefined();
  });
});
