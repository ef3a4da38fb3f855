/**
 * The `config.json` p2 hands runc: built by p2 from a checked bundle (or an image's process), never
 * the bundle's own file. The pod's user, a read-only root, no new privileges, runc's default
 * capabilities, masked and read-only paths, pid/ipc/mount namespaces, the host's network, the
 * pod's env over the image's, its config file mounted read-only and its cgroup.
 */
import { isAbsolute } from 'node:path';
import { RuncError, RuncErrorCodes } from './errors.js';
import {
  type BindMount,
  type BundleExtras,
  type ContainerProcess,
  DEFAULT_CAPABILITIES,
} from './policy.js';

/** runc's default masked paths (`runc spec`). */
const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];
/** runc's default read-only paths. */
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
/** The PATH a container gets when neither the image nor the pod sets one. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the container is for: the pod's user, env, mounts and cgroup. */
export interface RuntimeContext {
  uid: number;
  gid: number;
  /** The pod's environment (CONFIG_PATH, POD_HOME, …): it wins over the image's. */
  env: Readonly<Record<string, string>>;
  /** Bind mounts p2 adds (the config file read-only, the data dir). @default [] */
  mounts?: readonly BindMount[];
  /** `linux.cgroupsPath`: a child of the launchable's cgroup, so its limits apply (`/hello__app/container`). */
  cgroupsPath: string;
}

/** A container's source: a checked bundle ({@link checkBundleSpec}) or an unpacked image. */
export interface ContainerSource {
  /** Absolute path of the root filesystem (mounted read-only). */
  rootfs: string;
  process: ContainerProcess;
  /** What the bundle asked for and the policy allowed. @default {} */
  extras?: BundleExtras;
}

/** An OCI runtime spec (the parts p2 writes). */
export type RuntimeSpec = Record<string, unknown> & { ociVersion: string };

function bad(field: string, expected: string): never {
  throw new RuncError(RuncErrorCodes.INVALID_INPUT, `runtime spec: ${field} must be ${expected}`, {
    details: { field },
  });
}

function bind(mount: BindMount): Record<string, unknown> {
  return {
    destination: mount.destination,
    type: 'bind',
    source: mount.source,
    options: ['rbind', 'nosuid', 'nodev', mount.readonly ? 'ro' : 'rw'],
  };
}

/**
 * Builds the runtime spec for a container of a pod (see the module comment).
 *
 * @throws RuncError `P2_RUNC_INVALID_INPUT` for a uid/gid, path or variable p2 will not pass on
 * @example
 * ```ts
 * const spec = buildRuntimeSpec(checkBundleSpec(config, bundleCtx), {
 *   uid: 4001, gid: 4001, env: { CONFIG_PATH: '/data/pods/web/config/web_ab12.yaml' },
 *   mounts: [{ source: '/data/pods/web/config/web_ab12.yaml', destination: '/data/pods/web/config/web_ab12.yaml', readonly: true }],
 *   cgroupsPath: '/web__app/container',
 * });
 * await writeFile(join(runtimeDir, 'config.json'), JSON.stringify(spec));
 * ```
 */
export function buildRuntimeSpec(source: ContainerSource, ctx: RuntimeContext): RuntimeSpec {
  const extras = source.extras ?? {};
  for (const [field, id] of [
    ['uid', ctx.uid],
    ['gid', ctx.gid],
  ] as const)
    if (!Number.isSafeInteger(id) || id <= 0) bad(field, 'a positive integer (never root)');
  if (!isAbsolute(source.rootfs)) bad('rootfs', 'an absolute path');
  if (!/^(\/[A-Za-z0-9_@:+=,.-]+)+$/.test(ctx.cgroupsPath) || ctx.cgroupsPath.includes('/..'))
    bad('cgroupsPath', 'an absolute cgroup path');
  if (source.process.args.length === 0) bad('process.args', 'a non-empty list');

  const env = new Map<string, string>();
  for (const entry of source.process.env ?? []) {
    const at = entry.indexOf('=');
    if (at > 0) env.set(entry.slice(0, at), entry.slice(at + 1));
  }
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  for (const [name, value] of Object.entries(ctx.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || value.includes('\0'))
      bad(`env.${name}`, 'a variable');
    env.set(name, value);
  }

  const user = extras.user ?? { uid: ctx.uid, gid: ctx.gid };
  const caps = extras.capabilities ?? {
    bounding: [...DEFAULT_CAPABILITIES],
    effective: [...DEFAULT_CAPABILITIES],
    permitted: [...DEFAULT_CAPABILITIES],
  };
  const hostNamespaces = new Set(extras.hostNamespaces ?? []);
  const namespaces = (['pid', 'ipc', 'mount'] as const)
    .filter((kind) => !hostNamespaces.has(kind))
    .map((type) => ({ type }));
  if (extras.userNamespace) namespaces.push({ type: 'user' as 'pid' });

  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', 'ro'],
    },
    ...[...(ctx.mounts ?? []), ...(extras.mounts ?? [])].map(bind),
  ];

  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: {
        uid: user.uid,
        gid: user.gid,
        ...(extras.additionalGids ? { additionalGids: extras.additionalGids } : {}),
      },
      args: source.process.args,
      env: [...env].map(([name, value]) => `${name}=${value}`),
      cwd: source.process.cwd ?? '/',
      capabilities: caps,
      noNewPrivileges: extras.noNewPrivileges ?? true,
      ...(extras.rlimits ? { rlimits: extras.rlimits } : {}),
      ...(extras.oomScoreAdj !== undefined ? { oomScoreAdj: extras.oomScoreAdj } : {}),
      ...(extras.apparmorProfile ? { apparmorProfile: extras.apparmorProfile } : {}),
      ...(extras.selinuxLabel ? { selinuxLabel: extras.selinuxLabel } : {}),
    },
    root: { path: source.rootfs, readonly: true },
    mounts,
    ...(extras.hooks ? { hooks: extras.hooks } : {}),
    linux: {
      cgroupsPath: ctx.cgroupsPath,
      // No network namespace: host networking, as P2 ran containers (status_port health works).
      namespaces,
      ...(extras.userNamespace ?? {}),
      resources: { devices: [{ allow: false, access: 'rwm' }, ...(extras.deviceRules ?? [])] },
      ...(extras.devices ? { devices: extras.devices } : {}),
      ...(extras.sysctl ? { sysctl: extras.sysctl } : {}),
      ...(extras.seccomp ? { seccomp: extras.seccomp } : {}),
      maskedPaths: [...new Set([...MASKED_PATHS, ...(extras.maskedPaths ?? [])])],
      readonlyPaths: [...new Set([...READONLY_PATHS, ...(extras.readonlyPaths ?? [])])],
    },
  };
}
