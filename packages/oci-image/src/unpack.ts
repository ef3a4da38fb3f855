import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { describeError } from '@p2/errors';
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from '@p2/hoist';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { LayerApplier, type Owner } from './apply.js';
import { OciImageError, OciImageErrorCode } from './errors.js';
import {
  type Descriptor,
  descriptor,
  descriptors,
  isRecord,
  readJsonBlob,
  resolveManifest,
  unsupported,
  type VerifiedBlob,
  verifyBlob,
} from './layout.js';

/** The process an image asks to run, from its config (`Entrypoint`+`Cmd`, `Env`, `WorkingDir`, `User`). */
export interface ImageProcess {
  /** `Entrypoint` followed by `Cmd`; empty when the image sets neither. */
  args: string[];
  /** `Env`, as `NAME=value` strings. */
  env: string[];
  /** `WorkingDir`. @default '/' */
  cwd: string;
  /** `User` as the image wrote it (`name`, `uid`, `uid:gid`…); the caller decides what to do with it. */
  user?: string;
}

/** What {@link unpackImage} produced. */
export interface UnpackResult {
  /** The root filesystem directory, now filled. */
  rootfs: string;
  /** The image's process. */
  process: ImageProcess;
  /** Digest of the manifest that was unpacked (`sha256:…`). */
  manifestDigest: string;
  /** Number of layers applied. */
  layers: number;
  /** Bytes of regular files written, over all layers. */
  bytes: number;
}

/** Options of {@link unpackImage}. */
export interface UnpackOptions {
  /** The `org.opencontainers.image.ref.name` of the manifest to unpack. @default the index's only manifest */
  ref?: string;
  /** Tar-bomb limits over all layers; missing fields use Hoist's `DEFAULT_EXTRACT_LIMITS`. */
  limits?: Partial<ExtractLimits>;
  /** Owner of every file, directory and link written, whatever the layers recorded. @default root (0:0) */
  owner?: Owner;
  /** Structured logs (pino). @default silent */
  logger?: Logger;
}

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);
const CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

const silentLogger = pino({ level: 'silent' });

/**
 * Unpacks an OCI image layout (an extracted `oci-archive`, or a `skopeo copy … oci:DIR` directory)
 * into `rootfsDir`, which must not exist yet (its parent must). First the manifest is resolved and
 * **every** blob — manifest, config, layers — is checked against its descriptor's size and SHA-256;
 * only then is `rootfsDir` created (0700 while filling, 0755 at the end) and the layers applied
 * in order, with whiteouts and opaque directories, under the rules of Hoist artifacts: no absolute
 * names or `..`, no write through a symlink out of the root, hard links only to files of the image,
 * size and entry limits; device nodes and FIFOs are skipped (counted in the logs); setuid, setgid
 * and world-write bits are dropped; everything is owned by `owner`. On any failure `rootfsDir` is
 * removed.
 *
 * @param layoutDir - the image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), root's alone
 * @param rootfsDir - the directory to create and fill (a runtime bundle's `rootfs`)
 * @throws OciImageError `LAYOUT_INVALID`, `LAYOUT_UNTRUSTED`, `REF_NOT_FOUND`, `MANIFEST_INVALID`,
 *   `UNSUPPORTED_MEDIA_TYPE` (zstd…), `DIGEST_INVALID`, `BLOB_MISMATCH`, `PATH_ESCAPE`,
 *   `LINK_INVALID`, `CONFLICT`, `TOO_MANY_ENTRIES`, `TOO_LARGE`, `FILE_TOO_LARGE`, `LAYER_CORRUPT`,
 *   `ROOTFS_EXISTS`, `IO`
 * @example
 * ```ts
 * const { process, layers } = await unpackImage('/tmp/busybox-layout', '/tmp/bundle/rootfs');
 * // process: { args: ['sh'], env: ['PATH=/usr/local/sbin:…'], cwd: '/' }, layers: 1
 * ```
 */
export async function unpackImage(
  layoutDir: string,
  rootfsDir: string,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  const limits: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS, ...options.limits };
  const owner = options.owner ?? { uid: 0, gid: 0 };
  const logger = options.logger ?? silentLogger;
  const manifestDescriptor = await resolveManifest(layoutDir, options.ref);
  const manifest = await readJsonBlob(layoutDir, manifestDescriptor);
  const where = `manifest ${manifestDescriptor.digest}`;
  const configDescriptor = descriptor(manifest.config, `${where} config`);
  if (!CONFIG_TYPES.has(configDescriptor.mediaType)) {
    throw unsupported(configDescriptor.mediaType, `${where} config`);
  }
  const layerDescriptors = descriptors(manifest, where, 'layers');
  for (const layer of layerDescriptors) {
    if (!LAYER_TYPES.has(layer.mediaType))
      throw unsupported(layer.mediaType, `layer ${layer.digest}`);
  }
  const process = imageProcess(await readJsonBlob(layoutDir, configDescriptor), configDescriptor);
  const blobs: VerifiedBlob[] = [];
  try {
    for (const layer of layerDescriptors) blobs.push(await verifyBlob(layoutDir, layer));
    try {
      await mkdir(rootfsDir, { mode: 0o700 });
    } catch (cause) {
      const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
      throw new OciImageError(
        exists ? OciImageErrorCode.ROOTFS_EXISTS : OciImageErrorCode.IO,
        exists
          ? `${rootfsDir} already exists; unpackImage fills a new directory only`
          : `cannot create ${rootfsDir}: ${describeError(cause)}`,
        { cause },
      );
    }
    try {
      const applier = new LayerApplier(rootfsDir, limits, owner, logger);
      for (const blob of blobs) {
        await applier.apply(blob.handle, blob.descriptor.digest);
        logger.debug({ digest: blob.descriptor.digest }, 'layer applied');
      }
      await chown(rootfsDir, owner.uid, owner.gid);
      await chmod(rootfsDir, 0o755);
      const { skippedSpecial, whiteouts, files, bytes } = applier.totals;
      logger.info(
        {
          rootfsDir,
          manifest: manifestDescriptor.digest,
          layers: blobs.length,
          files,
          bytes,
          whiteouts,
          skippedSpecial,
        },
        'image unpacked',
      );
      return {
        rootfs: rootfsDir,
        process,
        manifestDigest: manifestDescriptor.digest,
        layers: blobs.length,
        bytes,
      };
    } catch (error) {
      await rm(rootfsDir, { recursive: true, force: true }).catch((cause: unknown) => {
        logger.error({ rootfsDir, err: describeError(cause) }, 'cannot remove a failed unpack');
      });
      if (error instanceof OciImageError) throw error;
      throw new OciImageError(
        OciImageErrorCode.IO,
        `cannot finish ${rootfsDir}: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  } finally {
    await Promise.all(blobs.map((blob) => blob.handle.close().catch(() => undefined)));
  }
}

function imageProcess(config: Record<string, unknown>, from: Descriptor): ImageProcess {
  const settings = isRecord(config.config) ? config.config : {};
  const strings = (field: string): string[] => {
    const value = settings[field];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
      throw new OciImageError(
        OciImageErrorCode.MANIFEST_INVALID,
        `image config ${from.digest}: config.${field} is not an array of strings`,
        { details: { digest: from.digest } },
      );
    }
    return value as string[];
  };
  const text = (field: string): string | undefined => {
    const value = settings[field];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') {
      throw new OciImageError(
        OciImageErrorCode.MANIFEST_INVALID,
        `image config ${from.digest}: config.${field} is not a string`,
        { details: { digest: from.digest } },
      );
    }
    return value;
  };
  const user = text('User');
  return {
    args: [...strings('Entrypoint'), ...strings('Cmd')],
    env: strings('Env'),
    cwd: text('WorkingDir') ?? '/',
    ...(user === undefined ? {} : { user }),
  };
}
