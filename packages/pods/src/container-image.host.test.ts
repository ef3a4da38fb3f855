/**
 * Container pods from OCI images for real: a busybox image built with umoci, written as an
 * `oci-archive` by skopeo, gzipped and served over HTTP as the artifact; installed (unpacked once,
 * outside installs/), run by runc under runit as the pod's user from the image's entrypoint,
 * updated, refused when a blob was tampered with, and removed without leftovers. Needs root, runc,
 * umoci and skopeo. Every name starts with p2t- and everything is removed even when a test fails.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Manifest, parseManifest } from '@p2/manifest';
import { containerState, listContainers } from '@p2/runc';
import { findUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBusyboxImage } from '../../../test-support/busybox-image.js';
import { until } from '../../../test-support/until.js';
import {
  type ContainerTestBed,
  httpGet,
  refusal,
  runAs,
  startContainerTestBed,
} from './container-test-support.js';

const run = promisify(execFile);
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-img-${suffix}`;
const node = `p2t-node-${suffix}`;

let bed: ContainerTestBed;
let versions = 0;
/** What the pod host logged at info (message and fields). */
const logs: Array<{ msg: string | undefined; obj: Record<string, unknown> }> = [];
const logged = (msg: string) => logs.filter((entry) => entry.msg === msg).map((e) => e.obj);

beforeAll(async () => {
  const ignore = () => undefined;
  bed = await startContainerTestBed(podId, node, 'p2t-img-', {
    debug: ignore,
    info: (obj, msg) => logs.push({ msg, obj: obj as Record<string, unknown> }),
    warn: ignore,
    error: ignore,
  });
}, 60_000);

afterAll(async () => {
  await bed?.close(['app']);
});

/** The app: records what it sees in its data dir, then serves `/www` (so `/_status`) on the status port. */
const appScript = () =>
  [
    'id -u > $HOME/uid',
    'pwd > $HOME/cwd',
    'echo $FROM_IMAGE > $HOME/env',
    `exec httpd -f -p 127.0.0.1:${bed.port} -h /www`,
  ].join('; ');

/**
 * An image layout whose `/www/_status` says `status`, its process the app, its user root (which
 * p2 ignores), as a gzipped `oci-archive` in the artifacts directory. `tamper` flips a byte of its
 * largest blob (the layer) before packing. Returns the artifact's URL.
 */
async function image(status: string, tamper = false): Promise<string> {
  const name = `image-${++versions}`;
  const dir = join(bed.work, name);
  const layout = await writeBusyboxImage(dir, {
    entrypoint: ['/bin/sh'],
    cmd: ['-c', appScript()],
    env: ['PATH=/bin', 'FROM_IMAGE=yes'],
    workingDir: '/www',
    user: '0:0',
    files: { 'www/_status': status },
  });
  const archive = join(dir, 'image.tar');
  await run('skopeo', ['copy', `oci:${layout}:p2t`, `oci-archive:${archive}`]);
  // `<launchable>_<40 hex>.tar.gz`: each image a version of its own (an install dir of its own).
  const file = `app_${createHash('sha1').update(name).digest('hex')}.tar.gz`;
  const target = join(bed.work, 'artifacts', file);
  if (tamper) {
    const extracted = join(dir, 'extracted');
    await mkdir(extracted);
    await run('tar', ['-xf', archive, '-C', extracted]);
    const blobs = join(extracted, 'blobs/sha256');
    const sizes = await Promise.all(
      (await readdir(blobs)).map(async (blob) => ({
        blob,
        size: (await stat(join(blobs, blob))).size,
      })),
    );
    const layer = sizes.sort((a, b) => b.size - a.size)[0]!;
    const handle = await open(join(blobs, layer.blob), 'r+');
    const at = Math.floor(layer.size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
    await handle.close();
    await run('tar', ['-czf', target, '-C', extracted, '.']);
  } else {
    await run('gzip', ['-c', archive], { encoding: 'buffer', maxBuffer: 1 << 30 }).then(
      ({ stdout }) => writeFile(target, stdout),
    );
  }
  return `${bed.baseUrl}/${file}`;
}

function manifestFor(location: string): Manifest {
  return parseManifest(
    `id: ${podId}\nrun_as: ${podId}\nstatus_port: ${bed.port}\nstatus_http: true\nlaunchables:\n  app:\n    launchable_type: opencontainer\n    location: ${location}\n    restart_timeout: 5s\n    cgroup: {cpus: 1, memory: 64M}\n`,
  );
}

const get = (path: string) => httpGet(bed.port, path);
const imagesDir = () => join(bed.work, 'containers', podId, 'app', 'images');

describe('container pods from OCI images (real runc, umoci, skopeo)', () => {
  let user: { uid: number; gid: number };

  it("runs the image's entrypoint as the pod's user (not the image's root), serving /_status", async () => {
    const m1 = manifestFor(await image('v1'));
    await bed.host.install(m1);
    const found = await findUser(podId);
    user = { uid: found?.uid ?? -1, gid: found?.gid ?? -1 };
    expect(user.uid).toBeGreaterThan(0);
    await bed.host.launch(m1);
    expect(await until('/_status', () => get('/_status'))).toBe('v1');
    const data = bed.host.layout({ podId }).dataDir;
    const seen = async (file: string) => (await readFile(join(data, file), 'utf8')).trim();
    expect(await seen('uid')).toBe(String(user.uid));
    expect(await seen('cwd')).toBe('/www');
    expect(await seen('env')).toBe('yes');
    const state = await containerState(bed.runc, `${podId}__app`);
    expect(state?.status).toBe('running');
    expect(await readFile(`/proc/${state?.pid}/status`, 'utf8')).toMatch(
      new RegExp(`^Uid:\\t${user.uid}\\t${user.uid}\\t${user.uid}\\t${user.uid}$`, 'm'),
    );
    // The rootfs runc runs is the unpacked image, outside installs/, root's alone.
    const spec = JSON.parse(
      await readFile(join(bed.work, 'containers', podId, 'app', 'config.json'), 'utf8'),
    ) as { root: { path: string } };
    expect(spec.root.path.startsWith(`${imagesDir()}/`)).toBe(true);
    expect(spec.root.path.startsWith(bed.host.layout({ podId }).installsDir('app'))).toBe(false);
    const images = await stat(imagesDir());
    expect([images.uid, images.mode & 0o777]).toEqual([0, 0o700]);
    const asPod = (script: string) => runAs(user, script);
    expect(await asPod(`touch ${spec.root.path}/bin/evil`)).toBe('refused');
    expect(await asPod(`ls ${imagesDir()}`)).toBe('refused');
    // Unpacked once (install), reused by the launch; the image's root user was noticed, and ignored.
    expect(logged('container image unpacked')).toHaveLength(1);
    expect(
      logged("the image names another user: ignored, the container runs as the pod's user"),
    ).toEqual([expect.objectContaining({ launchable: 'app', imageUser: '0:0', runAs: user.uid })]);
  });

  it('updates v1 → v2; images of versions no longer installed and interrupted unpacks go', async () => {
    // What a crash mid-unpack and an old version would have left.
    await mkdir(join(imagesDir(), '.unpack-app_old-0123456789abcdef-00000000', 'rootfs'), {
      recursive: true,
    });
    await mkdir(join(imagesDir(), 'app_old-0123456789abcdef', 'rootfs'), { recursive: true });
    const m2 = manifestFor(await image('v2'));
    await bed.host.install(m2);
    await bed.host.launch(m2);
    expect(
      await until('v2', async () => ((await get('/_status')) === 'v2' ? true : undefined)),
    ).toBe(true);
    const left = await readdir(imagesDir());
    // v2's and v1's (the last version) images only.
    expect(left).toHaveLength(2);
    expect(left.some((name) => name.startsWith('.') || name.startsWith('app_old'))).toBe(false);
  });

  it('refuses an image with a tampered blob, naming the launchable; the running version keeps running', async () => {
    const before = await readdir(imagesDir());
    const error = await refusal(bed.host.install(manifestFor(await image('v3', true))));
    expect(error.code).toBe('P2_PODS_CONTAINER_REFUSED');
    expect(error.details).toMatchObject({
      launchable: 'app',
      field: 'image',
      causeCode: 'P2_OCI_IMAGE_BLOB_MISMATCH',
    });
    expect(error.message).toContain('launchable app');
    expect(await get('/_status')).toBe('v2');
    // Nothing half-unpacked is left behind.
    expect((await readdir(imagesDir())).sort()).toEqual(before.sort());
  });

  it('is removed without leftovers: no container, no runc state, no rootfs or spec dir', async () => {
    await bed.host.uninstall({ podId });
    expect((await listContainers(bed.runc)).filter((c) => c.id.startsWith(podId))).toEqual([]);
    expect(existsSync(join(bed.runc.root, `${podId}__app`))).toBe(false);
    expect(existsSync(join(bed.work, 'containers', podId))).toBe(false);
    expect(await get('/_status')).toBeUndefined();
  });
});
