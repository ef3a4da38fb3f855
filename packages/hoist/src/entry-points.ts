import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { HoistError, HoistErrorCodes, hasErrno } from './errors.js';
import { normalizeEntryName } from './extract.js';

/** One executable that becomes a runit service. */
export interface EntryPoint {
  /** Path relative to the install directory (`bin/launch`, `bin/launch/web`). */
  relativePath: string;
  /** Absolute path inside the install directory. */
  path: string;
  /**
   * The service-name suffix P2 derives from it: the basename for legacy pods, the relative path
   * with `/` replaced by `__` for uuid pods. The full runit name is `<service id>__<suffix>`.
   */
  serviceSuffix: string;
}

/** Options of {@link discoverEntryPoints}. */
export interface DiscoverEntryPointsOptions {
  /**
   * The manifest's `entry_points`. Unset or empty means the implicit `['bin/launch']`, for which a
   * missing `bin/launch` simply yields no services; explicit entries must exist.
   */
  entryPoints?: readonly string[];
  /** Service naming: `legacy` (basename) or `uuid` (whole relative path). @default 'legacy' */
  naming?: 'legacy' | 'uuid';
}

/** The implicit entry point of a Hoist launchable. */
export const DEFAULT_ENTRY_POINT = 'bin/launch';

/**
 * Lists the executables of an installed Hoist launchable (spec 02 §2.12). Each entry point may be
 * a file (one service) or a directory (one service per directory entry, sorted). Two entries that
 * map to the same service name are refused, naming both.
 *
 * @throws HoistError `P2_HOIST_ENTRY_POINT_MISSING` (explicit entry absent),
 *   `P2_HOIST_ENTRY_POINT_INVALID` (absolute or `..`), `P2_HOIST_ENTRY_POINT_CLASH`, `P2_HOIST_IO`
 * @example
 * ```ts
 * await discoverEntryPoints('/data/pods/hello/app/installs/app_abc');
 * // [{ relativePath: 'bin/launch', path: '…/bin/launch', serviceSuffix: 'launch' }]
 * ```
 */
export async function discoverEntryPoints(
  installDir: string,
  options: DiscoverEntryPointsOptions = {},
): Promise<EntryPoint[]> {
  const explicit = options.entryPoints !== undefined && options.entryPoints.length > 0;
  const declared = explicit ? (options.entryPoints ?? []) : [DEFAULT_ENTRY_POINT];
  const naming = options.naming ?? 'legacy';
  const found: EntryPoint[] = [];
  for (const entry of declared) {
    const relative = normalizeEntryPoint(entry);
    const path = join(installDir, relative);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      if (!hasErrno(error, 'ENOENT', 'ENOTDIR')) throw ioError(path, error);
      if (!explicit) return [];
      throw new HoistError(
        HoistErrorCodes.ENTRY_POINT_MISSING,
        `entry point ${JSON.stringify(entry)} listed in entry_points does not exist in ${installDir}`,
        {
          hint: 'fix entry_points in the manifest or add the script to the artifact',
          details: { entryPoint: entry, installDir },
        },
      );
    }
    if (info.isDirectory()) {
      let names: string[];
      try {
        names = (await readdir(path)).sort();
      } catch (error) {
        throw ioError(path, error);
      }
      for (const name of names) found.push(entryPoint(installDir, `${relative}/${name}`, naming));
    } else {
      found.push(entryPoint(installDir, relative, naming));
    }
  }
  const bySuffix = new Map<string, string>();
  for (const point of found) {
    const other = bySuffix.get(point.serviceSuffix);
    if (other !== undefined) {
      throw new HoistError(
        HoistErrorCodes.ENTRY_POINT_CLASH,
        other === point.relativePath
          ? `entry point ${JSON.stringify(other)} is listed twice`
          : `entry points ${JSON.stringify(other)} and ${JSON.stringify(point.relativePath)} would both be the runit service "…__${point.serviceSuffix}"`,
        {
          hint: 'rename one of the scripts or list only one of them in entry_points',
          details: { first: other, second: point.relativePath, serviceSuffix: point.serviceSuffix },
        },
      );
    }
    bySuffix.set(point.serviceSuffix, point.relativePath);
  }
  return found;
}

/** The optional lifecycle scripts of a Hoist launchable, as absolute paths when present. */
export interface LaunchableScripts {
  /** `bin/enable`: run after the services started. */
  enable?: string;
  /** `bin/disable`: run at the start of a halt, before the services stop. */
  disable?: string;
  /** `bin/post-activate`: run after `current` was switched, before services are rebuilt. */
  postActivate?: string;
}

/**
 * Finds `bin/enable`, `bin/disable` and `bin/post-activate` in an install (regular files only;
 * a missing script is not an error). P2 never ran `bin/post-install` or `bin/pre-uninstall` for
 * Hoist launchables, so they are not reported.
 *
 * @throws HoistError `P2_HOIST_IO` when the install cannot be read
 * @example
 * ```ts
 * await discoverScripts('/data/pods/hello/app/installs/app_abc');
 * // { enable: '/data/pods/hello/app/installs/app_abc/bin/enable' }
 * ```
 */
export async function discoverScripts(installDir: string): Promise<LaunchableScripts> {
  const scripts: LaunchableScripts = {};
  const candidates = [
    ['enable', 'bin/enable'],
    ['disable', 'bin/disable'],
    ['postActivate', 'bin/post-activate'],
  ] as const;
  for (const [key, relative] of candidates) {
    const path = join(installDir, relative);
    try {
      if ((await stat(path)).isFile()) scripts[key] = path;
    } catch (error) {
      if (!hasErrno(error, 'ENOENT', 'ENOTDIR')) throw ioError(path, error);
    }
  }
  return scripts;
}

function normalizeEntryPoint(entry: string): string {
  const relative = normalizeEntryName(entry, HoistErrorCodes.ENTRY_POINT_INVALID, 'entry point');
  if (relative === '') {
    throw new HoistError(
      HoistErrorCodes.ENTRY_POINT_INVALID,
      `entry point ${JSON.stringify(entry)} names the install directory itself`,
      { details: { entryPoint: entry } },
    );
  }
  return relative;
}

function entryPoint(
  installDir: string,
  relativePath: string,
  naming: 'legacy' | 'uuid',
): EntryPoint {
  const serviceSuffix =
    naming === 'uuid'
      ? relativePath.replaceAll('/', '__')
      : relativePath.slice(relativePath.lastIndexOf('/') + 1);
  return { relativePath, path: join(installDir, relativePath), serviceSuffix };
}

function ioError(path: string, cause: unknown): HoistError {
  return new HoistError(HoistErrorCodes.IO, `cannot read ${path}: ${describeError(cause)}`, {
    cause,
  });
}
