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

/**
 * The directory under the pod root that holds the preparer's hook pods (P2's
 * `<pod_root>/hooks/<hook-pod-id>`, spec 02 §6.2): never a pod's home, so never a pod id.
 */
export const HOOK_PODS_DIR = 'hooks';

/** Names in a pod home that are not launchables. */
const RESERVED = new Set(['config', 'env', 'data', 'current_manifest.yaml']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether text is a canonical 36-character UUID. */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function idProblem(id: string): string | undefined {
  if (id.length === 0) return 'is empty';
  if (id.length > 200) return 'is longer than 200 characters';
  if (!SAFE_ID.test(id))
    return 'may hold only letters, digits, ".", "_" and "-", and must start with a letter or digit';
  if (id.includes('__')) return 'contains "__", which separates the parts of runit service names';
  return undefined;
}

/**
 * Checks that a pod id can safely be a directory name, a runit service name part and a key
 * segment, before it touches any path (intent read from the store included). P2 never validated;
 * we refuse what could escape a directory (`..`, `/`), what would make one pod's service names a
 * prefix of another's (`__`: pod `a` must never remove the services of pod `a__b`), a trailing
 * `-<uuid>`, which names uuid pods' homes, and `hooks`, whose home would be the hook pods' directory
 * (P2 let such a pod's uninstall delete the hook pods).
 * @throws PodError `P2_PODS_INVALID_POD_ID`
 */
export function assertSafePodId(podId: string): void {
  const problem =
    idProblem(podId) ??
    (podId.length > 37 && podId[podId.length - 37] === '-' && isUuid(podId.slice(-36))
      ? 'ends with "-<uuid>", which marks the home of a uuid pod'
      : podId === HOOK_PODS_DIR
        ? `is reserved: <pod_root>/${HOOK_PODS_DIR} holds the hook pods`
        : undefined);
  if (problem) {
    throw new PodError(PodErrorCode.INVALID_POD_ID, `pod id ${JSON.stringify(podId)} ${problem}`, {
      hint: 'pod ids name directories, users and runit services: use letters, digits, "-", "_" and "."',
      details: { pod: podId },
    });
  }
}

/**
 * Checks that a launchable id can safely be a directory name and a runit service name part (the
 * same rules as pod ids) and is not one of the names a pod home reserves (`config`, `env`, `data`),
 * before it touches any path — so intent naming one is refused as invalid, not retried.
 * @throws PodError `P2_PODS_INVALID_LAUNCHABLE_ID`
 */
export function assertSafeLaunchableId(launchableId: string): void {
  if (RESERVED.has(launchableId))
    throw new PodError(
      PodErrorCode.INVALID_LAUNCHABLE_ID,
      `launchable id ${JSON.stringify(launchableId)} is reserved: it names a directory of the pod home`,
      {
        hint: `rename the launchable (reserved: ${[...RESERVED].join(', ')})`,
        details: { launchable: launchableId },
      },
    );
  const problem = idProblem(launchableId);
  if (problem) {
    throw new PodError(
      PodErrorCode.INVALID_LAUNCHABLE_ID,
      `launchable id ${JSON.stringify(launchableId)} ${problem}`,
      {
        hint: 'launchable ids name directories and runit services: use letters, digits, "-", "_" and "."',
        details: { launchable: launchableId },
      },
    );
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
  /**
   * The pod's own writable directory (`$POD_DATA_DIR`, also its `HOME`): the only place under the
   * pod home its user may write. Everything else there is root's.
   */
  get dataDir(): string {
    return join(this.home, 'data');
  }
  /** @throws PodError `P2_PODS_INVALID_LAUNCHABLE_ID` */
  launchableRoot(launchableId: string): string {
    assertSafeLaunchableId(launchableId);
    return join(this.home, launchableId);
  }
  launchableEnvDir(launchableId: string): string {
    return join(this.launchableRoot(launchableId), 'env');
  }
  installsDir(launchableId: string): string {
    return join(this.launchableRoot(launchableId), 'installs');
  }
  /** The versioned install dir: `installs/<lid>_<version>` or `installs/<lid>` without a version. */
  installDir(launchableId: string, version: string): string {
    return join(
      this.installsDir(launchableId),
      version ? `${launchableId}_${version}` : launchableId,
    );
  }
  currentLink(launchableId: string): string {
    return join(this.launchableRoot(launchableId), 'current');
  }
  lastLink(launchableId: string): string {
    return join(this.launchableRoot(launchableId), 'last');
  }
  /** `<unique name>__<launchable id>` */
  serviceId(launchableId: string): string {
    assertSafeLaunchableId(launchableId);
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
