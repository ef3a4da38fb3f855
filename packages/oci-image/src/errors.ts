import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/oci-image` throws. Never renumber or rename one. */
export const OciImageErrorCode = {
  /** The directory is not an OCI image layout (no `oci-layout` or `index.json`), or they are not JSON of the expected shape. */
  LAYOUT_INVALID: 'P2_OCI_IMAGE_LAYOUT_INVALID',
  /** A file of the layout is a link, not a regular file, or writable by someone other than root. */
  LAYOUT_UNTRUSTED: 'P2_OCI_IMAGE_LAYOUT_UNTRUSTED',
  /** No manifest carries the asked `ref`, or several do and no `ref` was given (details: `refs`). */
  REF_NOT_FOUND: 'P2_OCI_IMAGE_REF_NOT_FOUND',
  /** A manifest, index or config document is not JSON of the expected shape. */
  MANIFEST_INVALID: 'P2_OCI_IMAGE_MANIFEST_INVALID',
  /** A media type p2 does not unpack (zstd layers, foreign layers, an unknown manifest type). */
  UNSUPPORTED_MEDIA_TYPE: 'P2_OCI_IMAGE_UNSUPPORTED_MEDIA_TYPE',
  /** A descriptor's digest is not `sha256:<64 hex>`. */
  DIGEST_INVALID: 'P2_OCI_IMAGE_DIGEST_INVALID',
  /** A blob is missing, or its size or SHA-256 differs from its descriptor (details: `digest`). Nothing was written. */
  BLOB_MISMATCH: 'P2_OCI_IMAGE_BLOB_MISMATCH',
  /** A layer entry name is absolute or contains `..`. */
  PATH_ESCAPE: 'P2_OCI_IMAGE_PATH_ESCAPE',
  /** A hard link names no earlier file, or a path resolves through too many symlinks. */
  LINK_INVALID: 'P2_OCI_IMAGE_LINK_INVALID',
  /** A layer needs a directory where a file is, and the layer did not replace it. */
  CONFLICT: 'P2_OCI_IMAGE_CONFLICT',
  /** More entries than `limits.maxEntries`. */
  TOO_MANY_ENTRIES: 'P2_OCI_IMAGE_TOO_MANY_ENTRIES',
  /** The files of all layers (or one decompressed layer) pass `limits.maxTotalBytes`. */
  TOO_LARGE: 'P2_OCI_IMAGE_TOO_LARGE',
  /** One file is larger than `limits.maxFileBytes`. */
  FILE_TOO_LARGE: 'P2_OCI_IMAGE_FILE_TOO_LARGE',
  /** A layer's gzip stream or tar is damaged or ends early. */
  LAYER_CORRUPT: 'P2_OCI_IMAGE_LAYER_CORRUPT',
  /** The root filesystem directory already exists (unpack never merges into an existing tree). */
  ROOTFS_EXISTS: 'P2_OCI_IMAGE_ROOTFS_EXISTS',
  /** A file-system operation failed (no space, permission denied…). */
  IO: 'P2_OCI_IMAGE_IO',
} as const;

/** One of the {@link OciImageErrorCode} values. */
export type OciImageErrorCode = (typeof OciImageErrorCode)[keyof typeof OciImageErrorCode];

/** Structured data carried by an {@link OciImageError}. */
export interface OciImageErrorDetails extends Record<string, unknown> {
  /** The blob or manifest digest concerned. */
  digest?: string;
  /** The layer entry name concerned. */
  entry?: string;
  /** The refs the index offers (`REF_NOT_FOUND`). */
  refs?: string[];
  /** The media type refused. */
  mediaType?: string;
  /** The limit passed. */
  limit?: number;
}

/**
 * The one error class of `@p2/oci-image`; `code` is one of {@link OciImageErrorCode}.
 * @example
 * ```ts
 * try { await unpackImage(layout, rootfs); }
 * catch (error) { if (isP2Error(error, OciImageErrorCode.BLOB_MISMATCH)) console.log(error.details.digest); }
 * ```
 */
export class OciImageError extends P2Error<OciImageErrorCode> {
  declare readonly details: OciImageErrorDetails;

  constructor(
    code: OciImageErrorCode,
    message: string,
    options: P2ErrorOptions & { details?: OciImageErrorDetails } = {},
  ) {
    super(code, message, options);
  }
}
