/**
 * Container pods — an OCI bundle and an OCI image layout — against hoist pods of the same app
 * (busybox httpd serving a directory), deployed one at a time through the preparer: time from
 * intent written to the process running (a new pid in runit's `supervise/pid`) and to the app
 * answering on its port. Baseline: the hoist pod, in the same run; the ratio is what runc (bundle
 * check, runtime spec, namespaces, cgroup) adds, and for the image, unpacking its layer too.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { intentKey, nodePodsPrefix } from '@p2/keyspace';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { deleteContainer } from '@p2/runc';
import { buildArtifact } from '../../e2e/src/artifacts.js';
import { freePort } from '../../e2e/src/processes.js';
import type { TestHost } from '../../e2e/src/test-host.js';
import { busyboxConfig, writeBusyboxBundle } from '../../test-support/busybox-bundle.js';
import { writeBusyboxImage } from '../../test-support/busybox-image.js';
import { report, summarize } from './harness.js';

const run = promisify(execFile);

interface Timed {
  running: number;
  answering: number;
}

/** Writes the pod's intent and times it to a runit pid and to an answer on `port`. */
async function deployOne(h: TestHost, m: Manifest, service: string, port: number): Promise<Timed> {
  const pidFile = join(h.work, 'service', service, 'supervise', 'pid');
  const start = performance.now();
  await h.store.put(intentKey(h.node, m.id), m.raw);
  let running = 0;
  const deadline = start + 120_000;
  while (performance.now() < deadline) {
    if (!running && (await readFile(pidFile, 'utf8').catch(() => '')).trim() !== '')
      running = performance.now() - start;
    if ((await h.answer(port, '/_status')) !== undefined)
      return {
        running: running || performance.now() - start,
        answering: performance.now() - start,
      };
    await sleep(5);
  }
  throw new Error(`${m.id} did not answer on ${port}`);
}

/** A pod user made beforehand (a container's bundle names its uid). */
async function podUser(h: TestHost, pod: string): Promise<{ uid: number; gid: number }> {
  await run('useradd', [
    '-M',
    '-U',
    '-d',
    join(h.work, 'pods', pod),
    '-s',
    '/usr/sbin/nologin',
    pod,
  ]);
  const id = async (flag: string) => Number((await run('id', [flag, pod])).stdout);
  return { uid: await id('-u'), gid: await id('-g') };
}

/** `pods` container pods of each kind and as many hoist pods of the same app, in turn, one at a time. */
export async function containersVsHoist(h: TestHost, pods: number): Promise<void> {
  const hoistSrc = join(h.work, 'httpd-hoist');
  await mkdir(join(hoistSrc, 'bin'), { recursive: true });
  await mkdir(join(hoistSrc, 'www'), { recursive: true });
  await writeFile(join(hoistSrc, 'www', '_status'), 'ok\n');
  await writeFile(
    join(hoistSrc, 'bin', 'launch'),
    '#!/bin/sh\nport=$(sed -n "s/^port: //p" "$CONFIG_PATH")\nexec /usr/bin/busybox httpd -f -p "127.0.0.1:$port" -h "$(dirname "$0")/../www"\n',
    { mode: 0o755 },
  );
  const hoistArtifact = await buildArtifact(hoistSrc, join(h.work, 'artifacts'), 'httpd', h.id);
  // One image for every image pod: the port comes from the pod's config.
  const imageLayout = await writeBusyboxImage(join(h.work, 'httpd-image'), {
    entrypoint: ['/bin/sh', '-c'],
    cmd: ['exec httpd -f -p "127.0.0.1:$(sed -n "s/^port: //p" "$CONFIG_PATH")" -h /www'],
    env: ['PATH=/bin'],
    files: { 'www/_status': 'ok\n' },
  });
  const hoist: number[][] = [[], []];
  const container: number[][] = [[], []];
  const image: number[][] = [[], []];
  const stanza = (location: string, type: 'hoist' | 'opencontainer', pod: string, port: number) =>
    new ManifestBuilder()
      .setId(pod)
      .setLaunchable('app', { launchableType: type, location, restartTimeout: '5s' })
      .setConfig({ port })
      .setStatusPort(port)
      .build();
  const record = (into: number[][], t: Timed) => {
    into[0]?.push(t.running);
    into[1]?.push(t.answering);
  };
  for (let i = 0; i < pods; i++) {
    const hoistPod = h.podId(`h${i}`);
    const ociPod = h.podId(`c${i}`);
    const imagePod = h.podId(`i${i}`);
    await podUser(h, hoistPod);
    await podUser(h, imagePod);
    const user = await podUser(h, ociPod);
    const hoistPort = await freePort();
    const ociPort = await freePort();
    const imagePort = await freePort();
    const bundle = await writeBusyboxBundle(
      join(h.work, `bundle-${i}`),
      busyboxConfig(user, ['/bin/httpd', '-f', '-p', `127.0.0.1:${ociPort}`, '-h', '/www']),
    );
    await mkdir(join(bundle, 'rootfs', 'www'), { recursive: true });
    await writeFile(join(bundle, 'rootfs', 'www', '_status'), 'ok\n');
    const ociArtifact = await buildArtifact(
      bundle,
      join(h.work, 'artifacts'),
      'httpd-oci',
      `${h.id}${i}`,
    );
    const imageArtifact = await buildArtifact(
      imageLayout,
      join(h.work, 'artifacts'),
      'httpd-img',
      `${h.id}${i}`,
    );
    const url = (file: string) => `${h.artifacts.url}/${file}`;
    record(
      hoist,
      await deployOne(
        h,
        stanza(url(hoistArtifact.fileName), 'hoist', hoistPod, hoistPort),
        `${hoistPod}__app__launch`,
        hoistPort,
      ),
    );
    record(
      container,
      await deployOne(
        h,
        stanza(url(ociArtifact.fileName), 'opencontainer', ociPod, ociPort),
        `${ociPod}__app__container`,
        ociPort,
      ),
    );
    record(
      image,
      await deployOne(
        h,
        stanza(url(imageArtifact.fileName), 'opencontainer', imagePod, imagePort),
        `${imagePod}__app__container`,
        imagePort,
      ),
    );
  }
  report(
    `container pods (bundle, image) vs hoist pods of the same app, ${pods} each, one at a time`,
    summarize('hoist: intent written -> process running', hoist[0] ?? []),
    [
      summarize('hoist: intent written -> answering', hoist[1] ?? []),
      summarize('container: intent written -> process running (runc)', container[0] ?? []),
      summarize('container: intent written -> answering', container[1] ?? []),
      summarize('image: intent written -> process running (unpack + runc)', image[0] ?? []),
      summarize('image: intent written -> answering', image[1] ?? []),
    ],
  );
  await removePods(h, pods);
}

/** Removes the pods through the preparer (reality written first, then gone), and what runc kept. */
async function removePods(h: TestHost, pods: number): Promise<void> {
  const reality = async () => (await h.store.keys(nodePodsPrefix('reality', h.node))).value.length;
  const deadline = performance.now() + 120_000;
  while ((await reality()) < 3 * pods && performance.now() < deadline) await sleep(100);
  for (let i = 0; i < pods; i++)
    for (const pod of [h.podId(`h${i}`), h.podId(`c${i}`), h.podId(`i${i}`)])
      await h.store.delete(intentKey(h.node, pod));
  while ((await reality()) > 0 && performance.now() < deadline + 120_000) await sleep(200);
  // A preparer that did not get to uninstall them (the host's teardown knows nothing of runc).
  for (let i = 0; i < pods; i++)
    for (const pod of [h.podId(`c${i}`), h.podId(`i${i}`)]) {
      await deleteContainer({}, `${pod}__app`, { force: true }).catch(() => undefined);
      await rm(join('/var/lib/p2/containers', pod), { recursive: true, force: true });
    }
}
