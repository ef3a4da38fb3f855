/**
 * What the container host tests share (not exported from the package): a pod host with real runit,
 * cgroups and runc in a temporary directory, artifacts served over HTTP on loopback, one-shot GETs
 * and refusals, and a clean-up that removes runc's containers and cgroups even after a failure.
 * @internal
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rmdir } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { detectCgroups } from '@p2/cgroups';
import { deleteContainer } from '@p2/runc';
import { RunsvDir } from '@p2/runit';
import { type FileServer, serveDirectory } from '../../../e2e/src/artifacts.js';
import { cleanUpHostTest, freePort } from '../../../test-support/host-test.js';
import type { PodError } from './errors.js';
import { PodHost } from './pod-host.js';
import type { PodLogger } from './types.js';

/** A pod host for container tests and what it runs on. */
export interface ContainerTestBed {
  /** The temporary directory (`artifacts/`, `pods/`, `service/`, `runc/`, `containers/`). */
  work: string;
  /** The artifacts' base URL (files of `<work>/artifacts`). */
  baseUrl: string;
  /** A free port for the pod's status port. */
  port: number;
  runsvdir: RunsvDir;
  host: PodHost;
  runc: { runcPath: string; root: string };
  /** Removes everything: the pod, its user, runc's containers and cgroups, the directory. */
  close(launchables: readonly string[]): Promise<void>;
}

/** Starts a {@link ContainerTestBed} for pod `podId` on node `node` (both `p2t-` names). */
export async function startContainerTestBed(
  podId: string,
  node: string,
  prefix: string,
  logger?: PodLogger,
): Promise<ContainerTestBed> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  for (const dir of ['artifacts', 'pods', 'service']) await mkdir(join(work, dir));
  await chmod(work, 0o755);
  let artifacts: FileServer | undefined;
  let runsvdir: RunsvDir | undefined;
  const runc = { runcPath: '/usr/sbin/runc', root: join(work, 'runc') };
  const close = async (launchables: readonly string[]) => {
    await artifacts?.close();
    for (const launchable of launchables)
      await deleteContainer(runc, `${podId}__${launchable}`, { force: true }).catch(
        () => undefined,
      );
    await cleanUpHostTest({ runsvdir, node, pods: [podId], users: [podId], dir: work });
    // runc's cgroups in the controllers p2 does not manage.
    for (const mount of await readdir('/sys/fs/cgroup').catch(() => [] as string[]))
      for (const launchable of launchables)
        for (const path of ['container', ''])
          await rmdir(join('/sys/fs/cgroup', mount, `${podId}__${launchable}`, path)).catch(
            () => undefined,
          );
  };
  try {
    artifacts = await serveDirectory(join(work, 'artifacts'));
    runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 2 });
    await runsvdir.start();
    const host = new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: await detectCgroups(),
      ...(logger ? { logger } : {}),
      containers: {
        runcPath: runc.runcPath,
        runcRoot: runc.root,
        specDir: join(work, 'containers'),
      },
    });
    return {
      work,
      baseUrl: artifacts.url,
      port: await freePort(),
      runsvdir,
      host,
      runc,
      close,
    };
  } catch (error) {
    await close([]);
    throw error;
  }
}

/** One GET on a connection of its own (busybox httpd closes each one after its answer). */
export function httpGet(port: number, path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** The error an install was refused with (fails when it was not). */
export async function refusal(promise: Promise<unknown>): Promise<PodError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as PodError,
  );
  if (!error) throw new Error('the install was not refused');
  return error;
}

/** Runs `script` with `sh -c` as `user` (no other groups): whether it was `allowed` or `refused`. */
export function runAs(
  user: { uid: number; gid: number },
  script: string,
): Promise<'allowed' | 'refused'> {
  return promisify(execFile)('setpriv', [
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    '--',
    '/bin/sh',
    '-c',
    script,
  ]).then(
    () => 'allowed' as const,
    () => 'refused' as const,
  );
}
