/**
 * `@p2/secure-fs`: file access for a process running as root beside hostile users — trust checks
 * of paths, no-follow reads of root-owned files, exclusive atomic writes, link-safe removal of
 * trees. Used wherever p2 reads or writes something a pod or another local user could have
 * prepared.
 *
 * @packageDocumentation
 */
export { SecureFsError, SecureFsErrorCode } from './errors.js';
export {
  distrustAncestors,
  distrustDir,
  distrustStats,
  ensureTrustedDir,
  isTrustedOwner,
  pathExists,
  type ReadTrustedFileOptions,
  readTrustedFile,
  removeAtomicWriteLeftovers,
  removeTree,
  type WriteFileAtomicOptions,
  writeFileAtomic,
} from './secure-fs.js';
