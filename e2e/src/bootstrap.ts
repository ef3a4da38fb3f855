/**
 * Runs the built `p2-bootstrap` against a host laid out under `work` (pods, service, artifacts, kv,
 * and the store's ACL token in `work/consul.token` rather than the host's /etc/p2/consul.token).
 * Its pods' cgroups go below a cgroup named after the node (`--cgroup-parent`): P2's flat names
 * (`p2-preparer__preparer`, …) are the same on every test host, and hosts of tests running at once
 * on this machine must not share them.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCgroup, detectCgroups, openCgroup } from '@p2/cgroups';
import { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { repoRoot } from './artifacts.js';

const run = promisify(execFile);

export interface BootstrapRun {
  node: string;
  store: string;
  pods: Array<{ pod: string; action: string }>;
  statusUrl: string;
  token?: { file: string; action: 'created' | 'reused' };
}

/** Where {@link runBootstrap} keeps the store's TLS certificate and key for a test host under `work`. */
function bootstrapTlsDir(work: string): string {
  return join(work, 'tls');
}

/** The URL of a test host's embedded store: HTTPS, pinned to the certificate bootstrap made. */
export function bootstrapStoreUrl(work: string, kvPort: number): string {
  return `consul+https://127.0.0.1:${kvPort}?ca=${join(bootstrapTlsDir(work), 'kv.pem')}`;
}

/** Where {@link runBootstrap} keeps the store's ACL token for a test host laid out under `work`. */
export function bootstrapTokenFile(work: string): string {
  return join(work, 'consul.token');
}

export async function runBootstrap(
  work: string,
  options: {
    node: string;
    kvPort: number;
    statusPort: number;
    kvUser: string;
    /** @default bootstrapTokenFile(work); `false`: no `--token-file` (an external store without one) */
    tokenFile?: string | false;
    extraArgs?: string[];
  },
): Promise<BootstrapRun> {
  const hierarchy = await detectCgroups().catch(() => undefined);
  if (hierarchy) await createCgroup(hierarchy, { name: options.node });
  const ran = run(
    process.execPath,
    [
      join(repoRoot, 'apps/bootstrap/dist/cli.js'),
      ...['--node-name', options.node],
      ...['--pod-root', join(work, 'pods')],
      ...['--service-root', join(work, 'service')],
      ...['--artifact-dir', join(work, 'artifacts')],
      ...['--kv-port', String(options.kvPort)],
      ...['--kv-data-dir', join(work, 'kv')],
      ...['--kv-user', options.kvUser],
      ...(options.tokenFile === false
        ? []
        : ['--token-file', options.tokenFile ?? bootstrapTokenFile(work)]),
      ...['--tls-dir', bootstrapTlsDir(work)],
      ...['--preparer-state-dir', join(work, 'preparer-state')],
      ...['--status-port', String(options.statusPort)],
      ...['--timeout', '60'],
      ...(hierarchy ? ['--cgroup-parent', options.node] : []),
      ...(options.extraArgs ?? []),
      '--json',
    ],
    { timeout: 120_000 },
  );
  const { stdout } = await ran.catch(async (error: unknown) => {
    // A refused bootstrap made no pod: take the empty parent away again.
    if (hierarchy)
      await openCgroup(hierarchy, { name: options.node })
        .remove()
        .catch(() => undefined);
    throw error;
  });
  return JSON.parse(stdout) as BootstrapRun;
}

/**
 * Tears a test host laid out by {@link runBootstrap} down, whatever state a failed test left it in:
 * stops every service under `work/service` (and its runsvdir), kills and removes the node's cgroups
 * (the parent named after it, and the nested `p2/<node>` of an older p2),
 * deletes the given users (the store's and the pods') and `work`.
 */
export async function teardownBootstrappedHost(
  work: string,
  options: { node: string; users: readonly string[] },
): Promise<void> {
  const runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 0 });
  await runsvdir.start().catch(() => undefined);
  await runsvdir.stop({ stopServices: true }).catch(() => undefined);
  const hierarchy = await detectCgroups().catch(() => undefined);
  if (hierarchy)
    for (const name of [options.node, `p2/${options.node}`])
      await openCgroup(hierarchy, { name })
        .remove({ kill: true })
        .catch(() => undefined);
  for (const user of options.users)
    if (await findUser(user).catch(() => undefined))
      await removeUser(user, { removeGroup: true }).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
