import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chown,
  type FileHandle,
  lchown,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describeError } from '@p2/errors';
import { pathExists } from '@p2/secure-fs';
import type { Logger } from 'pino';
import { HoistError, HoistErrorCodes, hasErrno } from './errors.js';
import {
  type ExtractLimits,
  type ExtractOptions,
  type ExtractResult,
  extractArchive,
  type Owner,
} from './extract.js';
import { type DownloadProgress, downloadArtifact, type FetchOptions, hashFile } from './fetch.js';
import { openLocalFile } from './local.js';
import {
  installDirName,
  type ResolvedLocation,
  resolveLocation,
  type VerificationLocations,
  verificationLocations,
  versionFromLocation,
} from './location.js';
import { silentLogger } from './logger.js';
import { walk } from './walk.js';

/** What an {@link ArtifactVerifier} is asked to check. */
export interface ArtifactToVerify {
  /**
   * A local file holding exactly the artifact bytes that will be extracted: the download, or for a
   * local location `/proc/self/fd/<n>` of the descriptor hoist hashed and will extract from.
   */
  path: string;
  /** Lowercase hex SHA-256 of those bytes. */
  sha256: string;
  size: number;
  /** The artifact location as written in the manifest (may contain credentials: never log it). */
  location: string;
  /** The location with credentials redacted, for messages. */
  display: string;
  /** Where P2 looks for the detached signature and the signed build manifest. */
  verificationLocations: VerificationLocations;
}

/**
 * Checks an artifact before anything is extracted — typically a signature policy from `@p2/auth`
 * (P2's `artifact_auth`: none, build, manifest, either). Resolve to accept; throw to refuse (the
 * error becomes the `cause` of a `P2_HOIST_VERIFICATION_FAILED`). Hoist does not depend on
 * `@p2/auth`; any object with this shape works.
 *
 * @example
 * ```ts
 * const verifier: ArtifactVerifier = {
 *   async verify({ sha256 }) { if (!allowed.has(sha256)) throw new Error('unknown build'); },
 * };
 * ```
 */
export interface ArtifactVerifier {
  verify(artifact: ArtifactToVerify): Promise<void>;
}

/** Options of {@link installArtifact}. */
export interface InstallOptions extends FetchOptions {
  /** `<pod home>/<launchable id>`; installs go to `<launchableRoot>/installs/<dir>`. */
  launchableRoot: string;
  launchableId: string;
  /**
   * The artifact: `http(s)://…`, `file:///…` or a local path (inside `localRoots`). Exactly one of
   * `location` and `discover` is given.
   */
  location?: string;
  /**
   * Finds the artifact when it is not installed yet — for a `version:` launchable, a registry
   * lookup ({@link discoverArtifact}); never called when `installs/<dir>` exists. Needs `version`.
   */
  discover?: () => Promise<ArtifactSource>;
  /**
   * Signature and build-manifest locations handed to the `verifier`, instead of the ones derived
   * from `location` ({@link verificationLocations}).
   */
  verificationLocations?: VerificationLocations;
  /**
   * The version that names the install directory (`version.id` of the manifest). When unset it is
   * derived from the location's file name as P2 did ({@link versionFromLocation}); no version ⇒
   * `installs/<launchable id>`.
   */
  version?: string;
  /** Refuse the artifact unless its SHA-256 (lowercase hex) is this. Checked before extraction. */
  expectedSha256?: string;
  /** Signature policy, run after the digest check and before extraction. */
  verifier?: ArtifactVerifier;
  /** Owner of the install (files, directories, links): the run-as user, or root when read-only. */
  owner?: Owner;
  /** See {@link ExtractOptions.shareReadAccess}: root-owned installs another user runs. @default false */
  shareReadAccess?: boolean;
  /** Tar-bomb limits. */
  limits?: Partial<ExtractLimits>;
  /** See {@link ExtractOptions.synchronousSmallWrites}. @default true */
  synchronousSmallWrites?: boolean;
  /** Directory for relative plain-path locations. @default process.cwd() */
  baseDir?: string;
}

/** Where an artifact is, as {@link InstallOptions.discover} finds it. */
export interface ArtifactSource {
  /** `http(s)://…` or `file:///…`. */
  location: string;
  /** Overrides the locations derived from `location`. */
  verificationLocations?: VerificationLocations;
}

/** What {@link installArtifact} did. */
export interface InstallResult {
  /** Absolute path of `installs/<dirName>`. */
  installDir: string;
  dirName: string;
  /** `true` when that directory already existed: nothing was fetched or changed. */
  alreadyInstalled: boolean;
  /**
   * `true` when a version-less install (`installs/<lid>`) from another location was replaced
   * (a fix of P2, which never re-downloaded those).
   */
  replaced: boolean;
  /** Where the artifact was fetched from, credentials redacted (absent when already installed). */
  location?: string;
  /** SHA-256 of the artifact (absent when already installed). */
  sha256?: string;
  /** Artifact size in bytes (absent when already installed). */
  size?: number;
  extract?: ExtractResult;
  /** Milliseconds spent per step. */
  timings: { fetchMs: number; verifyMs: number; extractMs: number };
}

/**
 * Fetches, verifies and installs a Hoist artifact into `<launchableRoot>/installs/<dir>`:
 * download (or open a local file) with the SHA-256 computed on the fly → compare with
 * `expectedSha256` → run the `verifier` → extract into a hidden staging directory next to the
 * target → rename it into place (atomic). Nothing is extracted before both checks pass; any failure
 * removes the staging directory and the temporary download. Installing a version whose directory
 * exists is a no-op, as in P2 (the directory is the version).
 *
 * @throws HoistError `P2_HOIST_DIGEST_MISMATCH`, `P2_HOIST_VERIFICATION_FAILED`, any fetch code of
 *   {@link downloadArtifact}, any archive code of {@link extractArchive}, `P2_HOIST_NAME_INVALID`,
 *   `P2_HOIST_IO`
 * @example
 * ```ts
 * const result = await installArtifact({
 *   launchableRoot: '/data/pods/hello/app',
 *   launchableId: 'app',
 *   location: 'https://artifacts.local/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz',
 *   expectedSha256: 'c86ffb5a…',
 *   owner: { uid: 1001, gid: 1001 },
 * });
 * // result.installDir === '/data/pods/hello/app/installs/app_3c021aff048ca8117593f9c71e03b87cf72fd440'
 * ```
 */
export async function installArtifact(options: InstallOptions): Promise<InstallResult> {
  const logger = options.logger ?? silentLogger;
  if ((options.location === undefined) === (options.discover === undefined)) {
    throw new HoistError(
      HoistErrorCodes.LOCATION_INVALID,
      `launchable ${options.launchableId}: give either a location or a way to discover it, not ${options.location === undefined ? 'neither' : 'both'}`,
    );
  }
  const version =
    options.version ??
    (options.location === undefined ? undefined : versionFromLocation(options.location));
  if (options.discover !== undefined && !version) {
    throw new HoistError(
      HoistErrorCodes.NAME_INVALID,
      `launchable ${options.launchableId}: an artifact found through discovery needs a version to name its install directory`,
    );
  }
  const dirName = installDirName(options.launchableId, version);
  const installsDir = join(options.launchableRoot, 'installs');
  const installDir = join(installsDir, dirName);
  const timings = { fetchMs: 0, verifyMs: 0, extractMs: 0 };
  // Without a version the directory name says nothing about the artifact: a source record beside
  // it (never inside, so digests stay valid) tells whether the location changed.
  const unversioned = version === undefined || version === '';
  const sourcePath = join(installsDir, `.${dirName}.source`);
  const source = sourceRecord(options.location ?? '', options.expectedSha256);
  let replacing = false;
  if (await pathExists(installDir).catch(cannotInspect(installDir))) {
    if (!unversioned || (await sourceMatches(sourcePath, source))) {
      logger.debug({ installDir }, 'already installed');
      return { installDir, dirName, alreadyInstalled: true, replaced: false, timings };
    }
    replacing = true;
    logger.info({ installDir }, 'version-less install comes from another location; replacing it');
  }
  const artifactSource: ArtifactSource = options.discover
    ? await options.discover()
    : {
        location: options.location ?? '',
        ...(options.verificationLocations
          ? { verificationLocations: options.verificationLocations }
          : {}),
      };
  const location = resolveLocation(artifactSource.location, options.baseDir);
  await ensureDirs(options.launchableRoot, installsDir, options.owner);
  const suffix = randomBytes(6).toString('hex');
  const downloadPath = join(installsDir, `.download-${dirName}-${suffix}`);
  const stagingDir = join(installsDir, `.staging-${dirName}-${suffix}`);
  let handle: FileHandle | undefined;
  try {
    let started = performance.now();
    const artifact = await acquire(location, downloadPath, options);
    handle = artifact.handle;
    timings.fetchMs = performance.now() - started;
    logger.info(
      {
        location: location.display,
        sha256: artifact.sha256,
        size: artifact.size,
        ms: Math.round(timings.fetchMs),
      },
      'artifact fetched',
    );

    started = performance.now();
    if (
      options.expectedSha256 !== undefined &&
      options.expectedSha256.toLowerCase() !== artifact.sha256
    ) {
      throw new HoistError(
        HoistErrorCodes.DIGEST_MISMATCH,
        `artifact ${location.display} has sha256 ${artifact.sha256}, expected ${options.expectedSha256.toLowerCase()}; nothing was installed`,
        {
          hint: 'the artifact changed after its digest was recorded: rebuild it or fix the expected digest',
          details: { expected: options.expectedSha256.toLowerCase(), actual: artifact.sha256 },
        },
      );
    }
    if (options.verifier !== undefined) {
      try {
        await options.verifier.verify({
          path: artifact.path,
          sha256: artifact.sha256,
          size: artifact.size,
          location: artifactSource.location,
          display: location.display,
          verificationLocations:
            artifactSource.verificationLocations ?? verificationLocations(artifactSource.location),
        });
      } catch (cause) {
        throw new HoistError(
          HoistErrorCodes.VERIFICATION_FAILED,
          `artifact ${location.display} failed verification: ${describeError(cause)}; nothing was installed`,
          {
            cause,
            hint: 'check the artifact signature (.sig) or signed build manifest (.manifest, .manifest.sig) and the keyring',
            details: { sha256: artifact.sha256 },
          },
        );
      }
    }
    timings.verifyMs = performance.now() - started;

    started = performance.now();
    const extracted = await extractArchive(artifact.handle, stagingDir, {
      ...(options.owner === undefined ? {} : { owner: options.owner }),
      ...(options.shareReadAccess ? { shareReadAccess: true } : {}),
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.synchronousSmallWrites === undefined
        ? {}
        : { synchronousSmallWrites: options.synchronousSmallWrites }),
      logger,
    });
    const now = new Date();
    await utimes(stagingDir, now, now); // pruning orders installs by this time
    const placed = replacing
      ? await replaceInstall(
          stagingDir,
          installDir,
          `${installsDir}/.replaced-${dirName}-${suffix}`,
        )
      : await placeInstall(stagingDir, installDir);
    if (placed && unversioned)
      await writeSourceRecord(sourcePath, { ...source, sha256: artifact.sha256 });
    timings.extractMs = performance.now() - started;
    logger.info(
      {
        installDir,
        files: extracted.files,
        bytes: extracted.bytes,
        ms: Math.round(timings.extractMs),
      },
      placed ? 'artifact installed' : 'artifact was installed concurrently',
    );
    return {
      installDir,
      dirName,
      alreadyInstalled: !placed,
      replaced: placed && replacing,
      location: location.display,
      sha256: artifact.sha256,
      size: artifact.size,
      extract: extracted,
      timings,
    };
  } finally {
    await handle?.close().catch(() => undefined);
    await rm(downloadPath, { force: true }).catch(() => undefined);
    await rm(stagingDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

interface AcquiredArtifact {
  path: string;
  handle: FileHandle;
  sha256: string;
  size: number;
}

/**
 * Local files are hashed and extracted through one open descriptor (no copy; renaming another
 * file over the path afterwards cannot swap the bytes). Remote ones are downloaded next to the
 * installs, on the same file system.
 */
async function acquire(
  location: ResolvedLocation,
  downloadPath: string,
  options: InstallOptions,
): Promise<AcquiredArtifact> {
  if (location.kind === 'file') {
    const { handle, size } = await openLocalFile(location, options.localRoots);
    try {
      const hashed = await hashFile(handle, withTotal(options.onProgress, size));
      // The verifier gets the open descriptor's path: the bytes it checks are the ones extracted,
      // whatever happens to the name meanwhile.
      return {
        path: `/proc/self/fd/${handle.fd}`,
        handle,
        sha256: hashed.sha256,
        size: hashed.size,
      };
    } catch (error) {
      await handle.close();
      if (error instanceof HoistError) throw error;
      throw new HoistError(
        HoistErrorCodes.IO,
        `cannot read ${location.display}: ${describeError(error)}`,
        { cause: error },
      );
    }
  }
  const downloaded = await downloadArtifact(location, downloadPath, options);
  const handle = await open(downloadPath, 'r');
  return { path: downloadPath, handle, sha256: downloaded.sha256, size: downloaded.size };
}

function withTotal(
  onProgress: ((progress: DownloadProgress) => void) | undefined,
  total: number,
): ((progress: DownloadProgress) => void) | undefined {
  if (onProgress === undefined) return undefined;
  return (progress) => onProgress({ ...progress, total });
}

interface SourceRecord {
  /** SHA-256 of the location string (the location itself may hold credentials). */
  location: string;
  sha256?: string;
}

function sourceRecord(location: string, expectedSha256: string | undefined): SourceRecord {
  return {
    location: createHash('sha256').update(location).digest('hex'),
    ...(expectedSha256 === undefined ? {} : { sha256: expectedSha256.toLowerCase() }),
  };
}

/**
 * A missing or unreadable record (an install made by P2) counts as a different source. `installs/`
 * belongs to the pod's user, so the record is opened without following symlinks or blocking (a
 * FIFO there must not stall root), must be a small regular file, and is never echoed.
 */
async function sourceMatches(path: string, wanted: SourceRecord): Promise<boolean> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
    const info = await handle.stat();
    if (!info.isFile() || info.size > 4096) return false;
    const recorded = JSON.parse(await handle.readFile('utf8')) as SourceRecord;
    return (
      recorded.location === wanted.location &&
      (wanted.sha256 === undefined || recorded.sha256 === wanted.sha256)
    );
  } catch {
    return false;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function writeSourceRecord(path: string, record: SourceRecord): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, `${JSON.stringify(record)}\n`, { mode: 0o644, flag: 'wx' });
    await rename(temp, path);
  } catch (cause) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot record the source of ${path}: ${describeError(cause)}`,
      {
        cause,
      },
    );
  }
}

/**
 * Swaps a new version-less install in: the old directory is renamed aside, the new one renamed into
 * place, the old one removed. Between the two renames (microseconds) the path is absent; processes
 * running from the old tree keep it until they exit.
 */
async function replaceInstall(
  stagingDir: string,
  installDir: string,
  aside: string,
): Promise<boolean> {
  try {
    await rename(installDir, aside);
  } catch (cause) {
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot move the previous ${installDir} aside: ${describeError(cause)}`,
      { cause },
    );
  }
  try {
    await rename(stagingDir, installDir);
  } catch (cause) {
    await rename(aside, installDir).catch(() => undefined);
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot move the extracted artifact into ${installDir}: ${describeError(cause)}`,
      { cause },
    );
  }
  await rm(aside, { recursive: true, force: true }).catch(() => undefined);
  return true;
}

async function placeInstall(stagingDir: string, installDir: string): Promise<boolean> {
  try {
    await rename(stagingDir, installDir);
    return true;
  } catch (cause) {
    if (hasErrno(cause, 'ENOTEMPTY', 'EEXIST')) return false;
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot move the extracted artifact into ${installDir}: ${describeError(cause)}`,
      { cause },
    );
  }
}

async function ensureDirs(
  launchableRoot: string,
  installsDir: string,
  owner?: Owner,
): Promise<void> {
  try {
    for (const dir of [launchableRoot, installsDir]) {
      const created = await mkdir(dir, { recursive: true, mode: 0o755 });
      if (created !== undefined && owner !== undefined) await chown(dir, owner.uid, owner.gid);
    }
  } catch (cause) {
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot create ${installsDir}: ${describeError(cause)}`,
      { cause },
    );
  }
}

/** Turns a {@link pathExists} failure other than "missing" into HoistError `P2_HOIST_IO`. */
function cannotInspect(path: string): (error: unknown) => never {
  return (error) => {
    throw new HoistError(HoistErrorCodes.IO, `cannot inspect ${path}: ${describeError(error)}`, {
      cause: error,
    });
  };
}

/** The two links P2 keeps in a launchable root. */
export type LinkName = 'current' | 'last';

/** Options of {@link switchLink}. */
export interface SwitchLinkOptions {
  /** Owner of the symlink itself (P2 lchown'd it to the unpack user). */
  owner?: Owner;
}

/**
 * Points `<launchableRoot>/<name>` at `<launchableRoot>/installs/<dirName>` atomically: a new
 * symlink is made under a temporary name and renamed over the old one, so readers always see
 * either the old or the new target. The link is absolute, as in P2.
 *
 * @throws HoistError `P2_HOIST_IO` when the install does not exist or the link cannot be replaced;
 *   `P2_HOIST_NAME_INVALID` for a `dirName` with `/`
 * @example
 * ```ts
 * await switchLink('/data/pods/hello/app', 'current', 'app_abc');
 * // /data/pods/hello/app/current -> /data/pods/hello/app/installs/app_abc
 * ```
 */
export async function switchLink(
  launchableRoot: string,
  name: LinkName,
  dirName: string,
  options: SwitchLinkOptions = {},
): Promise<void> {
  if (dirName.includes('/') || dirName === '' || dirName === '.' || dirName === '..') {
    throw new HoistError(
      HoistErrorCodes.NAME_INVALID,
      `install directory name ${JSON.stringify(dirName)} is not a plain name`,
    );
  }
  const target = join(launchableRoot, 'installs', dirName);
  const linkPath = join(launchableRoot, name);
  const temp = join(launchableRoot, `.${name}.${randomBytes(6).toString('hex')}`);
  try {
    const info = await stat(target);
    if (!info.isDirectory()) throw new Error('not a directory');
  } catch (cause) {
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot point ${name} at ${target}: the install does not exist`,
      { cause, hint: 'install the artifact first (installArtifact)' },
    );
  }
  try {
    await symlink(target, temp);
    if (options.owner !== undefined) await lchown(temp, options.owner.uid, options.owner.gid);
    await rename(temp, linkPath);
  } catch (cause) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot switch ${linkPath} to ${target}: ${describeError(cause)}`,
      { cause },
    );
  }
}

/**
 * The install directory name `<launchableRoot>/<name>` points at, or `undefined` when the link is
 * missing or points outside `installs/`.
 *
 * @throws HoistError `P2_HOIST_IO` when the link exists but cannot be read
 * @example await readLink('/data/pods/hello/app', 'current') // 'app_abc'
 */
export async function readLink(
  launchableRoot: string,
  name: LinkName,
): Promise<string | undefined> {
  let target: string;
  try {
    target = await readlink(join(launchableRoot, name));
  } catch (error) {
    if (hasErrno(error, 'ENOENT', 'EINVAL')) return undefined;
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot read link ${join(launchableRoot, name)}: ${describeError(error)}`,
      { cause: error },
    );
  }
  const installs = join(launchableRoot, 'installs');
  const absolute = target.startsWith('/') ? target : join(launchableRoot, target);
  const dirName = basename(absolute);
  return join(installs, dirName) === absolute ? dirName : undefined;
}

/**
 * Makes `dirName` the current install: `current` is switched atomically; `last` is pointed at
 * the previous `current` when there was one and it differs. Returns the previous install.
 *
 * @throws HoistError as {@link switchLink}
 * @example
 * ```ts
 * await activateInstall('/data/pods/hello/app', 'app_v2'); // { previous: 'app_v1' }
 * ```
 */
export async function activateInstall(
  launchableRoot: string,
  dirName: string,
  options: SwitchLinkOptions = {},
): Promise<{ previous: string | undefined }> {
  const previous = await readLink(launchableRoot, 'current');
  await switchLink(launchableRoot, 'current', dirName, options);
  const previousDir = previous === undefined ? '' : join(launchableRoot, 'installs', previous);
  if (
    previous !== undefined &&
    previous !== dirName &&
    (await pathExists(previousDir).catch(cannotInspect(previousDir)))
  ) {
    await switchLink(launchableRoot, 'last', previous, options);
  }
  return { previous };
}

/** Options of {@link pruneInstalls}. */
export interface PruneOptions {
  /**
   * Installs to keep besides the targets of `current` and `last`, newest first (by directory
   * mtime, i.e. install time). @default 2 when `maxBytes` is unset
   */
  keep?: number;
  /**
   * P2's rule (`max_launchable_disk_usage`): delete the oldest installs until all of them together
   * take at most this many bytes. Combined with `keep`, both must hold.
   */
  maxBytes?: number;
  /** Leftover `.staging-*`/`.download-*` entries older than this are removed. @default 3_600_000 */
  staleTempMs?: number;
  /**
   * Install directory names kept whatever `keep` and `maxBytes` say, as the targets of `current`
   * and `last` are — e.g. versions pre-staged for a coming deploy.
   */
  protect?: readonly string[];
  logger?: Logger;
}

/** What {@link pruneInstalls} did. */
export interface PruneResult {
  removed: string[];
  kept: string[];
  /** Bytes of the installs that remain. */
  remainingBytes: number;
}

/**
 * Deletes old installs of one launchable, never the targets of `current` or `last` (nor those
 * named in `protect`). Keeps the
 * newest `keep` others and, with `maxBytes`, deletes oldest-first until the total fits (P2 §2.13:
 * size = sum of non-directory entries, symlinks counting their own length). Also removes stale
 * staging/download leftovers of crashed installs.
 *
 * @throws HoistError `P2_HOIST_IO` when `installs/` cannot be read or an install cannot be removed
 * @example
 * ```ts
 * await pruneInstalls('/data/pods/hello/app', { keep: 2 }); // { removed: ['app_v1'], kept: [...] }
 * ```
 */
export async function pruneInstalls(
  launchableRoot: string,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const logger = options.logger ?? silentLogger;
  const keep = options.keep ?? (options.maxBytes === undefined ? 2 : Number.POSITIVE_INFINITY);
  const installsDir = join(launchableRoot, 'installs');
  const protectedNames = new Set(
    (
      await Promise.all([readLink(launchableRoot, 'current'), readLink(launchableRoot, 'last')])
    ).filter((name): name is string => name !== undefined),
  );
  for (const name of options.protect ?? []) protectedNames.add(name);
  let names: string[];
  try {
    names = await readdir(installsDir);
  } catch (error) {
    if (hasErrno(error, 'ENOENT')) return { removed: [], kept: [], remainingBytes: 0 };
    throw new HoistError(
      HoistErrorCodes.IO,
      `cannot list ${installsDir}: ${describeError(error)}`,
      { cause: error },
    );
  }
  const removed: string[] = [];
  const installs: { name: string; mtimeMs: number; bytes: number }[] = [];
  const staleBefore = Date.now() - (options.staleTempMs ?? 3_600_000);
  for (const name of names) {
    const path = join(installsDir, name);
    const info = await lstat(path);
    if (
      name.startsWith('.staging-') ||
      name.startsWith('.download-') ||
      name.startsWith('.replaced-')
    ) {
      if (info.mtimeMs < staleBefore) {
        await remove(path);
        removed.push(name);
      }
      continue;
    }
    if (!info.isDirectory()) continue;
    installs.push({
      name,
      mtimeMs: Math.floor(info.mtimeMs / 1000) * 1000,
      bytes: options.maxBytes === undefined ? 0 : await treeBytes(path),
    });
  }
  installs.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? 1 : -1));
  const kept: typeof installs = [];
  let unprotectedKept = 0;
  for (const install of installs) {
    if (protectedNames.has(install.name)) kept.push(install);
    else if (unprotectedKept < keep) {
      kept.push(install);
      unprotectedKept++;
    } else {
      await remove(join(installsDir, install.name));
      await remove(join(installsDir, `.${install.name}.source`));
      removed.push(install.name);
    }
  }
  let remainingBytes = kept.reduce((sum, install) => sum + install.bytes, 0);
  if (options.maxBytes !== undefined) {
    for (const install of [...kept].reverse()) {
      if (remainingBytes <= options.maxBytes) break;
      if (protectedNames.has(install.name)) continue;
      await remove(join(installsDir, install.name));
      await remove(join(installsDir, `.${install.name}.source`));
      removed.push(install.name);
      kept.splice(kept.indexOf(install), 1);
      remainingBytes -= install.bytes;
    }
  }
  if (removed.length > 0) logger.info({ launchableRoot, removed }, 'old installs pruned');
  return { removed, kept: kept.map((install) => install.name), remainingBytes };
}

async function remove(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (cause) {
    throw new HoistError(HoistErrorCodes.IO, `cannot remove ${path}: ${describeError(cause)}`, {
      cause,
    });
  }
}

/** Sum of the sizes of every non-directory entry below `dir` (symlinks: their own length). */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const { relative, entry } of await walk(dir)) {
    if (entry.isDirectory()) continue;
    total += (await lstat(join(dir, relative))).size;
  }
  return total;
}
