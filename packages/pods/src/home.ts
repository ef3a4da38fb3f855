/**
 * The pod root and pod homes as root needs them: root's alone all the way up, reachable by the
 * pod's user, with the pod's one writable place (`data/`) inside. A home that is not root's alone
 * is never reused (SECURITY.md).
 */
import { randomBytes } from 'node:crypto';
import { chown, lstat, mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Manifest } from '@p2/manifest';
import { distrustAncestors, distrustDir, ensureTrustedDir, removeTree } from '@p2/secure-fs';
import { PodError, PodErrorCode } from './errors.js';
import type { PodLayout } from './layout.js';
import type { HostContext } from './types.js';

/**
 * Makes the pod root and refuses it unless it and every directory above it are root's alone
 * (checked once per host).
 * @throws PodError `P2_PODS_UNTRUSTED_PATH`
 */
async function assertTrustedPodRoot(ctx: HostContext): Promise<void> {
  if (ctx.podRootTrusted) return;
  await mkdir(ctx.podRoot, { recursive: true, mode: 0o755 });
  const bad = await distrustAncestors(ctx.podRoot);
  if (bad) {
    throw new PodError(
      PodErrorCode.UNTRUSTED_PATH,
      `pod root ${ctx.podRoot}: ${bad.dir} ${bad.why}, so another user could replace what root installs there`,
      {
        hint: `make ${bad.dir} owned by root and not writable by group or others (chown root ${bad.dir}; chmod go-w ${bad.dir})`,
        details: { podRoot: ctx.podRoot, dir: bad.dir },
      },
    );
  }
  ctx.podRootTrusted = true;
}

/**
 * Makes the pod home root's (0755, not writable by the pod) with the pod's own writable `data/`
 * (0700, unless the pod is read-only). A home that is not root's alone — laid out by an older p2,
 * whose pod user owned it, or tampered with — is moved aside and deleted without following links,
 * then laid out afresh: root never reuses a directory a pod could have prepared.
 * @internal
 */
export async function prepareHome(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
): Promise<void> {
  await assertTrustedPodRoot(ctx);
  // A missing home is simply made; anything else at that path must be root's alone.
  const why = (await lstat(layout.home).catch(() => undefined))
    ? await distrustDir(layout.home)
    : undefined;
  if (why) {
    const aside = join(
      ctx.podRoot,
      `.p2-untrusted-${layout.uniqueName}-${randomBytes(4).toString('hex')}`,
    );
    ctx.logger.warn(
      { pod: manifest.id, home: layout.home, reason: why },
      'pod home is not root-owned (older layout or tampered); laying it out afresh',
    );
    await rename(layout.home, aside);
    await removeTree(aside);
  }
  await ensureTrustedDir(layout.home, 0o755);
}

/**
 * The pod's own writable `data/` in its (trusted, see {@link prepareHome}) home: 0700, the pod
 * user's; none for a read-only pod.
 * @internal
 */
export async function prepareDataDir(
  layout: PodLayout,
  user: { uid: number; gid: number },
  readOnly: boolean,
): Promise<void> {
  if (!readOnly) {
    const created = await mkdir(layout.dataDir, { mode: 0o700 }).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') return false;
        throw error;
      },
    );
    const info = await lstat(layout.dataDir);
    if (!info.isDirectory()) throw new Error(`${layout.dataDir} is not a directory`);
    // The home is root's, so nobody but root can have put a link here since mkdir.
    if (created || info.uid !== user.uid || info.gid !== user.gid)
      await chown(layout.dataDir, user.uid, user.gid);
  }
}

/**
 * The pod's user must be able to reach its home: every directory above it needs o+x.
 * @throws PodError `P2_PODS_INSTALL_FAILED`
 * @internal
 */
export async function assertReachable(podRoot: string, manifest: Manifest): Promise<void> {
  let dir = resolve(podRoot);
  for (;;) {
    const info = await stat(dir).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) {
      throw new PodError(
        PodErrorCode.INSTALL_FAILED,
        `pod ${manifest.id}: ${dir} (mode ${(info.mode & 0o777).toString(8)}) is not searchable by other users, so ${manifest.runAs} could not reach its pod home`,
        { hint: `chmod o+x ${dir}, or choose a pod_root below directories every user may enter` },
      );
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Refuses to act on a pod home that is not root's alone (see {@link prepareHome}).
 * @throws PodError `P2_PODS_UNTRUSTED_PATH`
 * @internal
 */
export async function assertTrustedHome(manifest: Manifest, layout: PodLayout): Promise<void> {
  const why = await distrustDir(layout.home);
  if (why)
    throw new PodError(
      PodErrorCode.UNTRUSTED_PATH,
      `pod ${manifest.id}: its home ${layout.home} ${why}; refusing to launch from it`,
      {
        hint: 'install the manifest again: install lays a home out afresh when it is not root-owned',
      },
    );
}
