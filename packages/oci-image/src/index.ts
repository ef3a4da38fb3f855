/**
 * `@p2/oci-image` — turns an OCI image layout (an extracted `oci-archive`, or `skopeo copy … oci:DIR`)
 * into a runtime bundle's root filesystem, as root and safely: every blob verified before use,
 * layers applied with whiteouts under the hostile-archive rules of Hoist artifacts, and the image's
 * process read from its config.
 *
 * @packageDocumentation
 */
export type { Owner } from './apply.js';
export { OciImageError, OciImageErrorCode, type OciImageErrorDetails } from './errors.js';
export { isImageLayout } from './layout.js';
export { type ImageProcess, type UnpackOptions, type UnpackResult, unpackImage } from './unpack.js';
