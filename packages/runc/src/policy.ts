/**
 * The allowlist a bundle's `config.json` must pass before p2 runs it for a pod: everything a field
 * may ask for is listed here, and anything beyond it is refused with the JSON path of the field
 * (`process.capabilities.bounding[3]`), unless the host allows that one thing explicitly.
 *
 * Nothing read from the file is put in a message: fields are named by their path, and a key p2
 * does not know is shown only when it is a plain identifier.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, posix } from 'node:path';
import { RuncError, RuncErrorCodes } from './errors.js';

/**
 * What a host may allow a bundle beyond the default policy (the preparer config's
 * `opencontainer.allow`), one item at a time:
 * - `hooks`: OCI hooks (they run as root on the host, outside the container);
 * - `capabilities`: capabilities beyond runc's default set (AUDIT_WRITE, KILL, NET_BIND_SERVICE);
 * - `host_mounts`: bind mounts whose source is outside the pod's home;
 * - `other_user`: a `process.user` other than the pod's uid/gid (or extra groups);
 * - `host_pid`, `host_ipc`, `host_mount_namespace`: no pid / ipc / mount namespace of its own;
 * - `user_namespace`: a user namespace and uid/gid mappings;
 * - `devices`: devices (and device cgroup rules) beyond runc's defaults;
 * - `sysctl`: `linux.sysctl`;
 * - `new_privileges`: `process.noNewPrivileges: false` (setuid binaries gain privileges);
 * - `root_path`: a `root.path` outside the bundle;
 * - `rlimits`: resource limits above this host's hard limits;
 * - `oom_score_adj`: a negative `process.oomScoreAdj`.
 */
export const BUNDLE_ALLOWANCES = [
  'hooks',
  'capabilities',
  'host_mounts',
  'other_user',
  'host_pid',
  'host_ipc',
  'host_mount_namespace',
  'user_namespace',
  'devices',
  'sysctl',
  'new_privileges',
  'root_path',
  'rlimits',
  'oom_score_adj',
] as const;

/** One of {@link BUNDLE_ALLOWANCES}. */
export type BundleAllowance = (typeof BUNDLE_ALLOWANCES)[number];

/** runc's default capability set: a bundle may ask for these and no others. */
export const DEFAULT_CAPABILITIES = [
  'CAP_AUDIT_WRITE',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
] as const;

/** Who and where the bundle is for. */
export interface BundleContext {
  /** The pod's user: `process.user.uid` must be this. */
  uid: number;
  /** The pod's primary group: `process.user.gid` must be this. */
  gid: number;
  /** Groups `process.user.additionalGids` may name. @default [gid] */
  groups?: readonly number[];
  /** The pod's home: bind mounts may take their source below it. */
  podHome: string;
  /** The bundle directory (holds `config.json`): `root.path` must be below it. */
  bundleDir: string;
  /** This host's hard resource limits by name (`RLIMIT_NOFILE`). @default read from /proc/self/limits */
  hostRlimits?: Readonly<Record<string, number>>;
}

/** The process a container runs (a bundle's or an image's `process`). */
export interface ContainerProcess {
  args: string[];
  /** `NAME=value` entries. @default [] */
  env?: string[];
  /** @default '/' */
  cwd?: string;
  /** An image's user: ignored, a pod's container always runs as the pod's user. */
  user?: unknown;
}

/** A bind mount as p2 passes it on. */
export interface BindMount {
  source: string;
  destination: string;
  readonly: boolean;
}

/** What a checked bundle may add to the runtime spec (each part passed the policy). */
export interface BundleExtras {
  capabilities?: Record<string, string[]>;
  rlimits?: Array<{ type: string; hard: number; soft: number }>;
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
  selinuxLabel?: string;
  additionalGids?: number[];
  user?: { uid: number; gid: number };
  mounts?: BindMount[];
  /** Namespaces the bundle does without (allowed): the container shares the host's. */
  hostNamespaces?: Array<'pid' | 'ipc' | 'mount'>;
  userNamespace?: { uidMappings: unknown[]; gidMappings: unknown[] };
  hooks?: Record<string, unknown>;
  sysctl?: Record<string, string>;
  devices?: unknown[];
  deviceRules?: unknown[];
  seccomp?: unknown;
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

/** A bundle that passed {@link checkBundleSpec}: its rootfs, process and allowed extras. */
export interface CheckedBundle {
  /** Absolute path of the root filesystem. */
  rootfs: string;
  process: ContainerProcess;
  extras: BundleExtras;
}

type Json = Record<string, unknown>;

const KEYS: Record<string, readonly string[]> = {
  '': ['ociVersion', 'process', 'root', 'hostname', 'mounts', 'hooks', 'annotations', 'linux'],
  process: [
    'terminal',
    'consoleSize',
    'user',
    'args',
    'env',
    'cwd',
    'capabilities',
    'rlimits',
    'noNewPrivileges',
    'apparmorProfile',
    'oomScoreAdj',
    'selinuxLabel',
  ],
  linux: [
    'namespaces',
    'uidMappings',
    'gidMappings',
    'devices',
    'cgroupsPath',
    'resources',
    'sysctl',
    'seccomp',
    'rootfsPropagation',
    'maskedPaths',
    'readonlyPaths',
    'mountLabel',
  ],
};
const MOUNT_TYPES = new Set(['proc', 'tmpfs', 'devpts', 'mqueue', 'sysfs', 'cgroup', 'cgroup2']);
const CAPABILITY_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'];
const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/**
 * This process's hard resource limits by `RLIMIT_*` name (`unlimited` is `Infinity`), from
 * `/proc/self/limits`.
 * @example hostHardLimits().RLIMIT_NOFILE // 1048576
 */
export function hostHardLimits(
  text = readFileSync('/proc/self/limits', 'utf8'),
): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = match && LIMIT_NAMES[match[1] as string];
    if (!match || !name) continue;
    limits[name] = match[3] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[3]);
  }
  return limits;
}

/** A key shown in a message: only a plain identifier from the file is. */
function shown(key: string): string {
  return /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(key) ? key : '<unknown key>';
}

function refuse(field: string, reason: string, allowance?: BundleAllowance): never {
  throw new RuncError(RuncErrorCodes.BUNDLE_REFUSED, `bundle config.json: ${field}: ${reason}`, {
    details: { field, ...(allowance ? { allowance } : {}) },
    hint: allowance
      ? `remove it from the bundle, or allow it on this host (preparer config opencontainer: { allow: [${allowance}] })`
      : 'remove it from the bundle: p2 never runs a pod with it',
  });
}

function invalid(field: string, expected: string): never {
  throw new RuncError(
    RuncErrorCodes.INVALID_BUNDLE,
    `bundle config.json: ${field} must be ${expected}`,
    { details: { field } },
  );
}

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function object(value: unknown, field: string): Json {
  if (value === undefined) return {};
  if (!isObject(value)) invalid(field, 'an object');
  return value;
}

function array(value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid(field, 'a list');
  return value;
}

function strings(value: unknown, field: string): string[] {
  return array(value, field).map((item, i) => {
    if (typeof item !== 'string' || item.includes('\0')) invalid(`${field}[${i}]`, 'a string');
    return item;
  });
}

function integer(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) invalid(field, 'an integer');
  return value as number;
}

function onlyKeys(value: Json, path: string): void {
  const known = KEYS[path] ?? [];
  for (const key of Object.keys(value))
    if (!known.includes(key))
      refuse(path ? `${path}.${shown(key)}` : shown(key), 'p2 does not know this field');
}

/** True when `path` (absolute, normalised) is `dir` or below it. */
function within(path: string, dir: string): boolean {
  const normal = posix.normalize(dir).replace(/\/+$/, '');
  return path === normal || path.startsWith(`${normal}/`);
}

/**
 * Checks a bundle's `config.json` against the pod policy (see the module comment) and returns what
 * the runtime spec may take from it ({@link buildRuntimeSpec}).
 *
 * @param spec the parsed `config.json`
 * @param allow what this host allows beyond the default policy
 * @throws RuncError `P2_RUNC_BUNDLE_REFUSED` (`details.field` is the JSON path, `details.allowance`
 *   what would allow it), `P2_RUNC_INVALID_BUNDLE`
 * @example
 * ```ts
 * checkBundleSpec(JSON.parse(configJson), { uid: 4001, gid: 4001, podHome: '/data/pods/web', bundleDir });
 * // { rootfs: '<bundleDir>/rootfs', process: { args: ['/bin/httpd'], env: [...], cwd: '/' }, extras: {} }
 * ```
 */
export function checkBundleSpec(
  spec: unknown,
  ctx: BundleContext,
  allow: readonly BundleAllowance[] = [],
): CheckedBundle {
  const allowed = new Set(allow);
  const top = object(spec, 'config.json');
  onlyKeys(top, '');
  const extras: BundleExtras = {};

  // root: below the bundle (or allowed elsewhere).
  const root = object(top.root, 'root');
  const rootPath = root.path ?? 'rootfs';
  if (typeof rootPath !== 'string' || rootPath === '' || rootPath.includes('\0'))
    invalid('root.path', 'a path');
  const rootfs = posix.resolve(ctx.bundleDir, rootPath);
  if (!within(rootfs, ctx.bundleDir) || rootfs === posix.normalize(ctx.bundleDir)) {
    if (!allowed.has('root_path'))
      refuse('root.path', 'the root filesystem must be inside the bundle', 'root_path');
  }

  const processSpec = checkProcess(object(top.process, 'process'), ctx, allowed, extras);
  checkMounts(array(top.mounts, 'mounts'), ctx, allowed, extras);
  if (top.hooks !== undefined && Object.keys(object(top.hooks, 'hooks')).length > 0) {
    const first = Object.keys(object(top.hooks, 'hooks'))[0] as string;
    if (!allowed.has('hooks'))
      refuse(`hooks.${shown(first)}`, 'OCI hooks run as root on the host', 'hooks');
    extras.hooks = top.hooks as Json;
  }
  checkLinux(object(top.linux, 'linux'), allowed, extras);
  return { rootfs, process: processSpec, extras };
}

function checkProcess(
  proc: Json,
  ctx: BundleContext,
  allowed: ReadonlySet<BundleAllowance>,
  extras: BundleExtras,
): ContainerProcess {
  onlyKeys(proc, 'process');
  if (proc.terminal === true) refuse('process.terminal', 'a pod has no terminal (runit runs it)');
  const args = strings(proc.args, 'process.args');
  if (args.length === 0) invalid('process.args', 'a non-empty list');
  const env = strings(proc.env, 'process.env');
  env.forEach((entry, i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(entry)) invalid(`process.env[${i}]`, 'NAME=value');
  });
  const cwd = proc.cwd ?? '/';
  if (typeof cwd !== 'string' || !isAbsolute(cwd)) invalid('process.cwd', 'an absolute path');

  const user = object(proc.user, 'process.user');
  for (const key of Object.keys(user))
    if (!['uid', 'gid', 'additionalGids', 'umask'].includes(key))
      refuse(`process.user.${shown(key)}`, 'p2 does not know this field');
  const uid = integer(user.uid ?? 0, 'process.user.uid');
  const gid = integer(user.gid ?? 0, 'process.user.gid');
  const groups = array(user.additionalGids, 'process.user.additionalGids').map((g, i) =>
    integer(g, `process.user.additionalGids[${i}]`),
  );
  if (!allowed.has('other_user')) {
    if (uid !== ctx.uid) refuse('process.user.uid', "it must be the pod's uid", 'other_user');
    if (gid !== ctx.gid) refuse('process.user.gid', "it must be the pod's gid", 'other_user');
    const podGroups = ctx.groups ?? [ctx.gid];
    groups.forEach((g, i) => {
      if (!podGroups.includes(g))
        refuse(
          `process.user.additionalGids[${i}]`,
          "it is not one of the pod's groups",
          'other_user',
        );
    });
  } else if (uid !== ctx.uid || gid !== ctx.gid) {
    extras.user = { uid, gid };
  }
  if (groups.length > 0) extras.additionalGids = groups;

  const caps = object(proc.capabilities, 'process.capabilities');
  const wanted: Record<string, string[]> = {};
  for (const [set, list] of Object.entries(caps)) {
    if (!CAPABILITY_SETS.includes(set))
      refuse(`process.capabilities.${shown(set)}`, 'p2 does not know this capability set');
    wanted[set] = strings(list, `process.capabilities.${set}`);
    wanted[set].forEach((cap, i) => {
      if (
        !(DEFAULT_CAPABILITIES as readonly string[]).includes(cap) &&
        !allowed.has('capabilities')
      )
        refuse(
          `process.capabilities.${set}[${i}]`,
          "beyond runc's default capabilities",
          'capabilities',
        );
    });
  }
  if (allowed.has('capabilities') && Object.keys(wanted).length > 0) extras.capabilities = wanted;

  const limits = array(proc.rlimits, 'process.rlimits');
  if (limits.length > 0) {
    const host = ctx.hostRlimits ?? hostHardLimits();
    extras.rlimits = limits.map((item, i) => {
      const limit = object(item, `process.rlimits[${i}]`);
      const type = limit.type;
      if (typeof type !== 'string' || !(type in host))
        invalid(`process.rlimits[${i}].type`, 'an RLIMIT_* name');
      const hard = integer(limit.hard, `process.rlimits[${i}].hard`);
      const soft = integer(limit.soft, `process.rlimits[${i}].soft`);
      if ((hard > (host[type] as number) || soft > hard) && !allowed.has('rlimits'))
        refuse(`process.rlimits[${i}]`, "above this host's hard limit", 'rlimits');
      return { type, hard, soft };
    });
  }
  if (proc.noNewPrivileges === false) {
    if (!allowed.has('new_privileges'))
      refuse('process.noNewPrivileges', 'setuid programs would gain privileges', 'new_privileges');
    extras.noNewPrivileges = false;
  }
  if (proc.oomScoreAdj !== undefined) {
    const adj = integer(proc.oomScoreAdj, 'process.oomScoreAdj');
    if (adj < 0 && !allowed.has('oom_score_adj'))
      refuse(
        'process.oomScoreAdj',
        'a negative value shields it from the OOM killer',
        'oom_score_adj',
      );
    extras.oomScoreAdj = adj;
  }
  for (const key of ['apparmorProfile', 'selinuxLabel'] as const) {
    const value = proc[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') invalid(`process.${key}`, 'a string');
    extras[key] = value;
  }
  return { args, env, cwd };
}

function checkMounts(
  mounts: unknown[],
  ctx: BundleContext,
  allowed: ReadonlySet<BundleAllowance>,
  extras: BundleExtras,
): void {
  const binds: BindMount[] = [];
  mounts.forEach((item, i) => {
    const field = `mounts[${i}]`;
    const mount = object(item, field);
    const destination = mount.destination;
    if (typeof destination !== 'string' || !isAbsolute(destination))
      invalid(`${field}.destination`, 'an absolute path');
    const options = strings(mount.options, `${field}.options`);
    const bind = mount.type === 'bind' || options.includes('bind') || options.includes('rbind');
    if (!bind) {
      // The kernel file systems runc's default spec mounts; p2 mounts its own set of them.
      if (typeof mount.type !== 'string' || !MOUNT_TYPES.has(mount.type))
        refuse(`${field}.type`, 'only bind mounts and proc, tmpfs, devpts, mqueue, sysfs, cgroup');
      return;
    }
    const source = mount.source;
    if (typeof source !== 'string' || !isAbsolute(source) || source.includes('\0'))
      invalid(`${field}.source`, 'an absolute path');
    const normal = posix.normalize(source);
    if (!within(normal, ctx.podHome) && !allowed.has('host_mounts'))
      refuse(`${field}.source`, "a bind mount's source must be in the pod's home", 'host_mounts');
    binds.push({ source: normal, destination, readonly: options.includes('ro') });
  });
  if (binds.length > 0) extras.mounts = binds;
}

function checkLinux(
  linux: Json,
  allowed: ReadonlySet<BundleAllowance>,
  extras: BundleExtras,
): void {
  onlyKeys(linux, 'linux');
  const kinds = new Set<string>();
  array(linux.namespaces, 'linux.namespaces').forEach((item, i) => {
    const ns = object(item, `linux.namespaces[${i}]`);
    if (ns.path !== undefined)
      refuse(`linux.namespaces[${i}].path`, "joining another process's namespace");
    if (typeof ns.type !== 'string') invalid(`linux.namespaces[${i}].type`, 'a namespace type');
    if (ns.type === 'user' && !allowed.has('user_namespace'))
      refuse(`linux.namespaces[${i}]`, 'a user namespace', 'user_namespace');
    kinds.add(ns.type);
  });
  const missing: Array<['pid' | 'ipc' | 'mount', BundleAllowance]> = [
    ['pid', 'host_pid'],
    ['ipc', 'host_ipc'],
    ['mount', 'host_mount_namespace'],
  ];
  for (const [kind, allowance] of missing) {
    if (kinds.has(kind)) continue;
    if (!allowed.has(allowance))
      refuse(
        'linux.namespaces',
        `no ${kind} namespace: the container would share the host's`,
        allowance,
      );
    extras.hostNamespaces = [...(extras.hostNamespaces ?? []), kind];
  }
  const uidMappings = array(linux.uidMappings, 'linux.uidMappings');
  const gidMappings = array(linux.gidMappings, 'linux.gidMappings');
  if (uidMappings.length + gidMappings.length > 0 || kinds.has('user')) {
    if (!allowed.has('user_namespace'))
      refuse(
        uidMappings.length > 0 ? 'linux.uidMappings' : 'linux.gidMappings',
        'uid/gid mappings',
        'user_namespace',
      );
    extras.userNamespace = { uidMappings, gidMappings };
  }
  const devices = array(linux.devices, 'linux.devices');
  if (devices.length > 0) {
    if (!allowed.has('devices'))
      refuse('linux.devices[0]', "a device beyond runc's defaults", 'devices');
    extras.devices = devices;
  }
  const resources = object(linux.resources, 'linux.resources');
  for (const key of Object.keys(resources))
    if (key !== 'devices')
      refuse(
        `linux.resources.${shown(key)}`,
        "a pod's limits come from its manifest's cgroup stanza",
      );
  const rules = array(resources.devices, 'linux.resources.devices');
  rules.forEach((rule, i) => {
    if (object(rule, `linux.resources.devices[${i}]`).allow === true && !allowed.has('devices'))
      refuse(`linux.resources.devices[${i}]`, "allows a device beyond runc's defaults", 'devices');
  });
  if (allowed.has('devices') && rules.length > 0) extras.deviceRules = rules;
  const sysctl = object(linux.sysctl, 'linux.sysctl');
  if (Object.keys(sysctl).length > 0) {
    if (!allowed.has('sysctl'))
      refuse(`linux.sysctl.${shown(Object.keys(sysctl)[0] as string)}`, 'sysctl', 'sysctl');
    extras.sysctl = sysctl as Record<string, string>;
  }
  // A seccomp profile only takes syscalls away: kept as the bundle gives it.
  if (linux.seccomp !== undefined) extras.seccomp = object(linux.seccomp, 'linux.seccomp');
  if (
    linux.rootfsPropagation !== undefined &&
    !['private', 'rprivate', 'slave', 'rslave'].includes(String(linux.rootfsPropagation))
  )
    refuse('linux.rootfsPropagation', "mounts would propagate to the host's");
  // More masked or read-only paths only restrict; p2 adds runc's defaults to them.
  const masked = strings(linux.maskedPaths, 'linux.maskedPaths');
  const readonly = strings(linux.readonlyPaths, 'linux.readonlyPaths');
  if (masked.length > 0) extras.maskedPaths = masked;
  if (readonly.length > 0) extras.readonlyPaths = readonly;
}
