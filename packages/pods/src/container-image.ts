/**
 * An `opencontainer` artifact that is an OCI image layout (an `oci-archive` tarball, as
 * `skopeo copy … oci-archive:F.tar` writes it) instead of a bundle. Hoist extracts it into its
 * install dir like any artifact; p2 then unpacks the image once per installed version into a
 * root-only directory outside `installs/` (whose tree digest is verified and which hoist prunes):
 * `<specDir>/<pod>/<launchable>/images/<install dir>-<index digest>/` holds `rootfs/` and the
 * image's process (`process.json`). The image's `User` is ignored: the pod's `run_as` applies.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { readLink } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import { OciImageError, unpackImage } from '@p2/oci-image';
import type { CheckedBundle } from '@p2/runc';
import { ensureTrustedDir, readTrustedFile, removeTree, writeFileAtomic } from '@p2/secure-fs';
import { PodError, PodErrorCode } from './errors.js';
import type { PodLayout } from './layout.js';
import type { HostContext, PodUser } from './types.js';

/** Where p2 writes container specs, run scripts and unpacked images. @internal */
export function specRoot(ctx: HostContext): string {
  return ctx.options.containers?.specDir ?? '/var/lib/p2/containers';
}

/** The root-only directory of one container launchable (its runtime spec, run script, images). @internal */
export async function containerDir(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
): Promise<string> {
  const root = specRoot(ctx);
  const podDir = join(root, layout.uniqueName);
  const dir = join(podDir, launchableId);
  await mkdir(join(root, '..'), { recursive: true, mode: 0o755 });
  for (const path of [root, podDir, dir]) await ensureTrustedDir(path, 0o700);
  return dir;
}

interface StoredProcess {
  args: string[];
  env: string[];
  cwd: string;
  user?: string;
  manifestDigest: string;
}

const MAX_PROCESS_BYTES = 1 << 20;

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/**
 * The unpacked image of an installed image layout as a checked bundle: unpacked now when this
 * version (this `index.json`) was not yet, into a temporary name renamed into place, so an
 * interrupted unpack is never used.
 * @throws PodError `P2_PODS_CONTAINER_REFUSED` (`details.field` `image`, `image.config`) naming the launchable
 * @internal
 */
export async function imageBundle(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
  launchableId: string,
  installDir: string,
  user: Pick<PodUser, 'uid' | 'gid'> & { name?: string },
): Promise<CheckedBundle> {
  const refused = (field: string, message: string, cause?: unknown, causeCode?: string) =>
    new PodError(
      PodErrorCode.CONTAINER_REFUSED,
      `pod ${manifest.id}: launchable ${launchableId}: ${message}`,
      {
        cause,
        details: {
          pod: manifest.id,
          launchable: launchableId,
          field,
          ...(causeCode ? { causeCode } : {}),
        },
        ...(cause instanceof OciImageError && cause.hint ? { hint: cause.hint } : {}),
      },
    );
  // The install is root's; isImageLayout read index.json the same way (no links, trusted owner).
  const index = await readTrustedFile(join(installDir, 'index.json'), { maxBytes: 4 << 20 });
  if (index === undefined) throw refused('image', 'the image layout has no index.json');
  const key = `${basename(installDir)}-${createHash('sha256').update(index).digest('hex').slice(0, 16)}`;
  const imagesDir = join(await containerDir(ctx, layout, launchableId), 'images');
  await ensureTrustedDir(imagesDir, 0o700);
  const dir = join(imagesDir, key);
  let stored = await readProcess(dir);
  if (stored === undefined) {
    // Unpacked under a name no launch reads, then renamed: a half rootfs is never used.
    const temp = join(imagesDir, `.unpack-${key}-${randomBytes(4).toString('hex')}`);
    await ensureTrustedDir(temp, 0o700);
    try {
      const result = await unpackImage(installDir, join(temp, 'rootfs')).catch((error: unknown) => {
        if (error instanceof OciImageError)
          throw refused('image', error.message, error, error.code);
        throw error;
      });
      stored = { ...result.process, manifestDigest: result.manifestDigest };
      await writeFileAtomic(join(temp, 'process.json'), `${JSON.stringify(stored, null, 2)}\n`, {
        mode: 0o600,
      });
      // Only a damaged earlier unpack is in the way (a complete one has its process.json).
      await removeTree(dir);
      await rename(temp, dir);
      ctx.logger.info(
        {
          pod: manifest.id,
          launchable: launchableId,
          image: stored.manifestDigest,
          layers: result.layers,
          bytes: result.bytes,
        },
        'container image unpacked',
      );
      // Said once per version, when it is unpacked.
      const named = stored.user?.split(':')[0];
      if (named !== undefined && ![String(user.uid), user.name, manifest.runAs].includes(named))
        ctx.logger.info(
          { pod: manifest.id, launchable: launchableId, imageUser: stored.user, runAs: user.uid },
          "the image names another user: ignored, the container runs as the pod's user",
        );
    } finally {
      await removeTree(temp);
    }
  }
  if (stored.args.length === 0)
    throw refused('image.config', 'the image sets no Entrypoint or Cmd to run');
  if (!isAbsolute(stored.cwd))
    throw refused('image.config', 'the image WorkingDir is not an absolute path');
  if (stored.env.some((entry) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(entry)))
    throw refused('image.config', 'an image Env entry is not NAME=value');
  return {
    rootfs: join(dir, 'rootfs'),
    process: { args: stored.args, env: stored.env, cwd: stored.cwd },
    extras: {},
  };
}

/** The process.json p2 wrote beside an unpacked rootfs, or undefined when there is none (yet) or it is damaged. */
async function readProcess(dir: string): Promise<StoredProcess | undefined> {
  const text = await readTrustedFile(join(dir, 'process.json'), { maxBytes: MAX_PROCESS_BYTES });
  if (text === undefined) return undefined;
  let value: Partial<StoredProcess>;
  try {
    value = JSON.parse(text.toString('utf8')) as Partial<StoredProcess>;
  } catch {
    return undefined; // unpacked again
  }
  if (
    !isStrings(value.args) ||
    !isStrings(value.env) ||
    typeof value.cwd !== 'string' ||
    typeof value.manifestDigest !== 'string' ||
    (value.user !== undefined && typeof value.user !== 'string')
  )
    return undefined;
  return value as StoredProcess;
}

/**
 * Removes the unpacked images of a launchable but those of `installing`, `current` and `last`
 * (and interrupted unpacks). @internal
 */
export async function pruneImages(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
  installing: string,
): Promise<void> {
  const imagesDir = join(specRoot(ctx), layout.uniqueName, launchableId, 'images');
  const names = await readdir(imagesDir).catch(() => [] as string[]);
  if (names.length === 0) return;
  const root = layout.launchableRoot(launchableId);
  const keep = new Set([installing]);
  for (const link of ['current', 'last'] as const) {
    const target = await readLink(root, link).catch(() => undefined);
    if (target) keep.add(target);
  }
  const removed: string[] = [];
  for (const name of names) {
    const at = name.lastIndexOf('-');
    if (!name.startsWith('.') && at > 0 && keep.has(name.slice(0, at))) continue;
    await removeTree(join(imagesDir, name));
    removed.push(name);
  }
  if (removed.length > 0)
    ctx.logger.info({ pod: layout.podId, launchable: launchableId, removed }, 'old images removed');
}
