/**
 * P2's on-disk layout of a pod (spec 02 §2.2), in one place:
 *
 * ```
 * <pod_root>/<unique name>/            pod home (unique name = pod id, or <pod id>-<uuid>)
 *   current_manifest.yaml              original manifest bytes
 *   config/<id>_<sha>.yaml             CONFIG_PATH
 *   config/<id>_<sha>.platform.yaml    PLATFORM_CONFIG_PATH
 *   config/<id>_<sha>.resource_limits.yaml  RESOURCE_LIMIT_PATH (only with resource_limits.cgroup)
 *   env/                               pod env dir
 *   <launchable>/env/                  launchable env dir
 *   <launchable>/installs/<dir>/       extracted artifacts
 *   <launchable>/current -> installs/… ; last -> installs/…
 * ```
 */
import { join } from 'node:path';
import { PodError, PodErrorCode } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether text is a canonical 36-character UUID. */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/**
 * Checks that a pod id can safely be a directory name, a runit service name part and a key segment.
 * P2 never validated; we refuse what could escape a directory or confuse uuid-pod detection.
 * @throws PodError `P2_PODS_INVALID_POD_ID`
 */
export function assertSafePodId(podId: string): void {
  const problem =
    podId.length === 0
      ? 'is empty'
      : podId === '.' || podId === '..'
        ? 'is a relative directory name'
        : /[/\\\s\0]/.test(podId)
          ? 'contains a slash, backslash, whitespace or NUL'
          : podId.length > 200
            ? 'is longer than 200 characters'
            : undefined;
  if (problem) {
    throw new PodError(PodErrorCode.INVALID_POD_ID, `pod id ${JSON.stringify(podId)} ${problem}`, {
      hint: 'pod ids name directories, users and runit services: use letters, digits, "-", "_" and "."',
    });
  }
}

/** The directory names and files of one pod on this host. */
export class PodLayout {
  /** `<pod id>` for legacy pods, `<pod id>-<uuid>` for uuid pods. */
  readonly uniqueName: string;
  readonly home: string;

  constructor(
    readonly podRoot: string,
    readonly podId: string,
    readonly uniqueKey = '',
  ) {
    assertSafePodId(podId);
    if (uniqueKey !== '' && !isUuid(uniqueKey)) {
      throw new PodError(
        PodErrorCode.INVALID_POD_ID,
        `pod unique key ${JSON.stringify(uniqueKey)} is not a UUID`,
      );
    }
    this.uniqueName = uniqueKey ? `${podId}-${uniqueKey}` : podId;
    this.home = join(podRoot, this.uniqueName);
  }

  /** Rebuilds a layout from a pod home directory name (a trailing UUID marks a uuid pod). */
  static fromHomeName(podRoot: string, name: string): PodLayout {
    if (name.length > 37 && name[name.length - 37] === '-' && isUuid(name.slice(-36))) {
      return new PodLayout(podRoot, name.slice(0, -37), name.slice(-36).toLowerCase());
    }
    return new PodLayout(podRoot, name);
  }

  get currentManifestPath(): string {
    return join(this.home, 'current_manifest.yaml');
  }
  get configDir(): string {
    return join(this.home, 'config');
  }
  get envDir(): string {
    return join(this.home, 'env');
  }
  launchableRoot(launchableId: string): string {
    return join(this.home, launchableId);
  }
  launchableEnvDir(launchableId: string): string {
    return join(this.home, launchableId, 'env');
  }
  installsDir(launchableId: string): string {
    return join(this.home, launchableId, 'installs');
  }
  /** The versioned install dir: `installs/<lid>_<version>` or `installs/<lid>` without a version. */
  installDir(launchableId: string, version: string): string {
    return join(
      this.installsDir(launchableId),
      version ? `${launchableId}_${version}` : launchableId,
    );
  }
  currentLink(launchableId: string): string {
    return join(this.home, launchableId, 'current');
  }
  lastLink(launchableId: string): string {
    return join(this.home, launchableId, 'last');
  }
  /** `<unique name>__<launchable id>` */
  serviceId(launchableId: string): string {
    return `${this.uniqueName}__${launchableId}`;
  }
  /**
   * runit service name of one entry point: legacy pods use the executable's basename, uuid pods the
   * whole relative path with `/` replaced by `__` (spec 01 §1.3).
   */
  serviceName(launchableId: string, relativeEntry: string): string {
    const suffix = this.uniqueKey
      ? relativeEntry.split('/').filter(Boolean).join('__')
      : (relativeEntry.split('/').pop() ?? relativeEntry);
    return `${this.serviceId(launchableId)}__${suffix}`;
  }
}
