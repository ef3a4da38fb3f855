import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { distrustStats, readTrustedFile, SecureFsError } from '@p2/secure-fs';
import { OciImageError, OciImageErrorCode } from './errors.js';

/** Largest JSON document (index, manifest, config) read into memory. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
const REF_ANNOTATION = 'org.opencontainers.image.ref.name';
const DIGEST = /^sha256:[a-f0-9]{64}$/;

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);

/** A content descriptor of the OCI image spec (the fields p2 uses). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string };
}

/** A blob whose size and SHA-256 were checked, held open so nothing can swap it afterwards. */
export interface VerifiedBlob {
  descriptor: Descriptor;
  handle: FileHandle;
}

/**
 * Whether `dir` is an OCI image layout: it holds the regular files `oci-layout` (with an
 * `imageLayoutVersion`) and `index.json`, opened without following links. A missing file, a link,
 * or a file another user may write answers false.
 * @example await isImageLayout('/data/pods/web/app/installs/app_v1') // true
 */
export async function isImageLayout(dir: string): Promise<boolean> {
  try {
    const marker = await readTrustedFile(join(dir, 'oci-layout'), { maxBytes: 4096 });
    const index = await readTrustedFile(join(dir, 'index.json'), { maxBytes: MAX_DOCUMENT_BYTES });
    if (marker === undefined || index === undefined) return false;
    const parsed = JSON.parse(marker.toString('utf8')) as unknown;
    return isRecord(parsed) && typeof parsed.imageLayoutVersion === 'string';
  } catch (error) {
    if (error instanceof SecureFsError || error instanceof SyntaxError) return false;
    throw error;
  }
}

/**
 * Reads `index.json` and follows it to one image manifest: the one whose
 * `org.opencontainers.image.ref.name` annotation is `ref`, else the only one. A nested image index
 * is followed to its single linux/amd64 manifest.
 * @throws OciImageError `LAYOUT_INVALID`, `LAYOUT_UNTRUSTED`, `REF_NOT_FOUND`, `MANIFEST_INVALID`,
 *   `UNSUPPORTED_MEDIA_TYPE`, `DIGEST_INVALID`, `BLOB_MISMATCH`
 */
export async function resolveManifest(
  layoutDir: string,
  ref: string | undefined,
): Promise<Descriptor> {
  if (!(await isImageLayout(layoutDir))) {
    throw new OciImageError(
      OciImageErrorCode.LAYOUT_INVALID,
      `${layoutDir} is not an OCI image layout (expected root-owned regular files oci-layout and index.json)`,
      { hint: 'write one with `skopeo copy … oci:DIR` or `umoci init`, or extract an oci-archive' },
    );
  }
  const index = parseJson(
    (await readTrustedFile(join(layoutDir, 'index.json'), { maxBytes: MAX_DOCUMENT_BYTES }))!,
    'index.json',
  );
  const manifests = descriptors(index, 'index.json');
  const refs = manifests
    .map((m) => m.annotations?.[REF_ANNOTATION])
    .filter((r): r is string => typeof r === 'string');
  let chosen: Descriptor | undefined;
  if (ref !== undefined) {
    chosen = manifests.find((m) => m.annotations?.[REF_ANNOTATION] === ref);
    if (chosen === undefined) {
      throw new OciImageError(
        OciImageErrorCode.REF_NOT_FOUND,
        `${layoutDir}/index.json has no manifest named ${JSON.stringify(ref)} (refs: ${refs.map((r) => JSON.stringify(r)).join(', ') || 'none'})`,
        { details: { refs } },
      );
    }
  } else if (manifests.length === 1) {
    chosen = manifests[0]!;
  } else {
    throw new OciImageError(
      OciImageErrorCode.REF_NOT_FOUND,
      `${layoutDir}/index.json lists ${manifests.length} manifests and no ref was given (refs: ${refs.map((r) => JSON.stringify(r)).join(', ') || 'none'})`,
      { hint: 'pass the ref of the image to unpack', details: { refs } },
    );
  }
  if (INDEX_TYPES.has(chosen.mediaType)) chosen = await followIndex(layoutDir, chosen);
  if (!MANIFEST_TYPES.has(chosen.mediaType)) {
    throw unsupported(chosen.mediaType, `manifest ${chosen.digest}`);
  }
  return chosen;
}

async function followIndex(layoutDir: string, descriptor: Descriptor): Promise<Descriptor> {
  const nested = descriptors(
    await readJsonBlob(layoutDir, descriptor),
    `image index ${descriptor.digest}`,
  );
  const amd64 = nested.filter(
    (m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64',
  );
  if (amd64.length !== 1 || INDEX_TYPES.has(amd64[0]!.mediaType)) {
    throw new OciImageError(
      OciImageErrorCode.MANIFEST_INVALID,
      `image index ${descriptor.digest} has ${amd64.length} linux/amd64 manifests; p2 follows a nested index only to exactly one`,
      { details: { digest: descriptor.digest } },
    );
  }
  return amd64[0]!;
}

/**
 * Opens a blob without following links, checks it is a trusted regular file of the descriptor's
 * size, and hashes it. The handle stays open: the caller reads the verified bytes through it.
 * @throws OciImageError `DIGEST_INVALID`, `BLOB_MISMATCH`, `LAYOUT_UNTRUSTED`
 */
export async function verifyBlob(layoutDir: string, descriptor: Descriptor): Promise<VerifiedBlob> {
  const hex = descriptor.digest.slice('sha256:'.length);
  const path = join(layoutDir, 'blobs', 'sha256', hex);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new OciImageError(
        OciImageErrorCode.LAYOUT_UNTRUSTED,
        `blob ${descriptor.digest} is a symbolic link; refusing to unpack it`,
        { details: { digest: descriptor.digest } },
      );
    }
    throw mismatch(
      descriptor,
      `blob ${descriptor.digest} cannot be opened (${describeError(cause)})`,
      cause,
    );
  }
  try {
    const info = await handle.stat();
    const why = info.isFile() ? distrustStats(info) : 'is not a regular file';
    if (why !== undefined) {
      throw new OciImageError(
        OciImageErrorCode.LAYOUT_UNTRUSTED,
        `blob ${descriptor.digest} ${why}; refusing to unpack it`,
        { details: { digest: descriptor.digest } },
      );
    }
    if (info.size !== descriptor.size) {
      throw mismatch(
        descriptor,
        `blob ${descriptor.digest} is ${info.size} bytes, its descriptor says ${descriptor.size}`,
      );
    }
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ start: 0, autoClose: false })) {
      hash.update(chunk as Buffer);
    }
    const actual = hash.digest('hex');
    if (actual !== hex) {
      throw mismatch(
        descriptor,
        `blob ${descriptor.digest} has SHA-256 ${actual}; it was changed after the image was written`,
      );
    }
    return { descriptor, handle };
  } catch (error) {
    await handle.close();
    if (error instanceof OciImageError) throw error;
    throw new OciImageError(
      OciImageErrorCode.IO,
      `cannot read blob ${descriptor.digest}: ${describeError(error)}`,
      {
        cause: error,
        details: { digest: descriptor.digest },
      },
    );
  }
}

/** Verifies a small JSON blob (manifest, index, config) and parses it. */
export async function readJsonBlob(
  layoutDir: string,
  descriptor: Descriptor,
): Promise<Record<string, unknown>> {
  if (descriptor.size > MAX_DOCUMENT_BYTES) {
    throw new OciImageError(
      OciImageErrorCode.MANIFEST_INVALID,
      `document ${descriptor.digest} is ${descriptor.size} bytes, more than the ${MAX_DOCUMENT_BYTES} allowed`,
      { details: { digest: descriptor.digest, limit: MAX_DOCUMENT_BYTES } },
    );
  }
  const { handle } = await verifyBlob(layoutDir, descriptor);
  try {
    const buffer = Buffer.alloc(descriptor.size);
    await handle.read(buffer, 0, descriptor.size, 0);
    return parseJson(buffer, `document ${descriptor.digest}`);
  } finally {
    await handle.close();
  }
}

/** The descriptors of an index's `manifests` or a manifest's `layers`, each checked. */
export function descriptors(
  document: Record<string, unknown>,
  where: string,
  field: 'manifests' | 'layers' = 'manifests',
): Descriptor[] {
  const list = document[field];
  if (!Array.isArray(list)) throw invalid(`${where} has no ${field} array`);
  return list.map((item, i) => descriptor(item, `${where} ${field}[${i}]`));
}

/** One descriptor, checked: a media type, a sha256 digest and a size. */
export function descriptor(value: unknown, where: string): Descriptor {
  if (
    !isRecord(value) ||
    typeof value.mediaType !== 'string' ||
    typeof value.digest !== 'string' ||
    typeof value.size !== 'number' ||
    !Number.isSafeInteger(value.size) ||
    value.size < 0
  ) {
    throw invalid(`${where} is not a descriptor (mediaType, digest, size)`);
  }
  if (!DIGEST.test(value.digest)) {
    throw new OciImageError(
      OciImageErrorCode.DIGEST_INVALID,
      `${where} has digest ${JSON.stringify(value.digest.slice(0, 80))}; p2 accepts only sha256:<64 lowercase hex>`,
      { details: { digest: value.digest.slice(0, 80) } },
    );
  }
  return value as unknown as Descriptor;
}

/** A JSON object, or `MANIFEST_INVALID` naming `where` (never quoting the content). */
function parseJson(buffer: Buffer, where: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(buffer.toString('utf8'));
  } catch (cause) {
    throw invalid(`${where} is not valid JSON`, cause);
  }
  if (!isRecord(parsed)) throw invalid(`${where} is not a JSON object`);
  return parsed;
}

/** A refusal of a media type p2 does not unpack. */
export function unsupported(mediaType: string, what: string): OciImageError {
  const zstd = mediaType.includes('zstd');
  return new OciImageError(
    OciImageErrorCode.UNSUPPORTED_MEDIA_TYPE,
    `${what} has media type ${JSON.stringify(mediaType)}, which p2 does not unpack${zstd ? ' (zstd layers are not supported)' : ''}`,
    {
      details: { mediaType },
      ...(zstd
        ? { hint: 'recompress the image with gzip: `skopeo copy --dest-compress-format gzip …`' }
        : {}),
    },
  );
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string, cause?: unknown): OciImageError {
  return new OciImageError(
    OciImageErrorCode.MANIFEST_INVALID,
    message,
    cause === undefined ? {} : { cause },
  );
}

function mismatch(descriptor: Descriptor, message: string, cause?: unknown): OciImageError {
  return new OciImageError(OciImageErrorCode.BLOB_MISMATCH, message, {
    details: { digest: descriptor.digest },
    hint: 'the layout was changed or damaged after it was written; fetch the image again',
    ...(cause === undefined ? {} : { cause }),
  });
}
