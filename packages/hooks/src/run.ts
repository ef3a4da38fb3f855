import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describeError, redactCredentials } from '@p2/errors';
import type { Manifest } from '@p2/manifest';
import pino, { type Logger } from 'pino';
import { type DiscoveredHook, discoverHooks } from './discover.js';
import { type HookVariables, hookEnvironment } from './env.js';
import { HooksError, HooksErrorCode } from './errors.js';
import type { HookEvent } from './events.js';
import { runProcess } from './process.js';

/** The pod a hook run is about. */
export interface HookPod {
  /** The manifest given to hooks (intent, reality or the preparer's own, per event). */
  manifest: Manifest;
  /** The pod's home, e.g. `/data/pods/web`. */
  home: string;
  /** @default manifest.id */
  id?: string;
  /** UUID pods only. */
  uniqueKey?: string;
  /** Whether the pod's files are owned by root (the manifest's `readonly`, as materialised by the host). @default manifest.readonly ?? false */
  readOnly?: boolean;
}

/** One hook run, as audited. */
export interface HookAuditRecord {
  event: HookEvent;
  /** The hook's file name. */
  hook: string;
  hookPath: string;
  podId: string;
  podUniqueKey: string | undefined;
  node: string;
  /** Listed in `hooks_required`. */
  required: boolean;
  startedAt: Date;
  durationMs: number;
  /** `null` when killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** It ran past its timeout and was killed. */
  timedOut: boolean;
  /** True exactly when the hook exited 0 in time (unlike P2's SQLite audit, where 0 meant success). */
  success: boolean;
  /** Why it failed, for people. */
  error?: string;
  /** stdout and stderr interleaved, up to `outputLimitBytes`. */
  output: string;
  /** Output bytes beyond the limit that were read and dropped. */
  outputDroppedBytes: number;
}

/** Options of {@link runHooks}. */
export interface RunHooksOptions {
  event: HookEvent;
  /** P2's `hooks_directory`. @default '/usr/local/p2hooks.d' */
  hooksDirectory?: string;
  node: string;
  /** P2's pod root (`HOOKED_SYSTEM_POD_ROOT`). @default '/data/pods' */
  podRoot?: string;
  pod: HookPod;
  /** P2's `hooks_required`: file names whose failure stops the deploy. @default [] */
  required?: readonly string[];
  /** Time a hook may run. @default 120_000 (P2's) */
  timeoutMs?: number;
  /** After the timeout, SIGTERM goes to the hook's process group; SIGKILL follows after this. @default 5_000 */
  killGraceMs?: number;
  /** Output kept per hook (the rest is drained and counted). @default 65_536 */
  outputLimitBytes?: number;
  /** `PATH` given to hooks (P2 gave none). @default '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' */
  path?: string;
  /** Further variables (beyond P2), e.g. `NODE_OPTIONS`. P2's variables win over these. */
  extraEnv?: Record<string, string>;
  /**
   * A group that may read the manifest copy (`HOOKED_POD_MANIFEST`): the hook pod's, when its hooks
   * drop privileges to a user other than root. The copy and its directory stay root's (the group
   * reads, nobody else writes). @default none: root alone reads it
   */
  manifestGroup?: number;
  /** Working directory of hooks. @default '/' */
  cwd?: string;
  /** Receives one record per hook run; a throwing sink is logged, never fatal. */
  audit?: (record: HookAuditRecord) => void | Promise<void>;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What {@link runHooks} did. */
export interface HookRunSummary {
  event: HookEvent;
  podId: string;
  records: HookAuditRecord[];
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The paths P2 derived for a pod's hooks: `<home>/config/<id>_<sha>.yaml`, `<home>/config`, `<home>/env`.
 *
 * @example hookPodPaths('/data/pods/web', manifest).configPath // '/data/pods/web/config/web_<sha>.yaml'
 */
export function hookPodPaths(
  home: string,
  manifest: Manifest,
  id: string = manifest.id,
): { configPath: string; configDirPath: string; envPath: string } {
  const configDirPath = join(home, 'config');
  return {
    configPath: join(configDirPath, `${id}_${manifest.sha()}.yaml`),
    configDirPath,
    envPath: join(home, 'env'),
  };
}

/**
 * Runs every hook of the hooks directory for one event, in name order, as the preparer does:
 * each gets P2's variables plus `PATH`, its output is captured (capped) and logged, and each run is
 * audited. A hook that outlives `timeoutMs` is killed with its whole process group (SIGTERM, then
 * SIGKILL after `killGraceMs`; P2 stopped waiting but never killed). A failing hook listed in
 * `required` stops the run (P2 treated a timeout as non-fatal even then; here a timed-out or
 * non-executable required hook fails too); others are logged and the next one runs.
 *
 * @throws {HooksError} `P2_HOOKS_REQUIRED_HOOK_FAILED` (details: the audit record) when a required
 *   hook fails; `P2_HOOKS_IO` when the directory cannot be listed or the manifest copy written;
 *   `P2_HOOKS_INVALID_OPTIONS` for a negative timeout.
 * @example
 * ```ts
 * const summary = await runHooks({ event: 'after_install', node: 'h1', pod: { manifest, home: '/data/pods/web' },
 *   required: ['secrets__fetch__launch'], audit: (r) => auditLog.write(r) });
 * summary.records.map((r) => [r.hook, r.success]); // [['secrets__fetch__launch', true], …]
 * ```
 */
export async function runHooks(options: RunHooksOptions): Promise<HookRunSummary> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const hooksDirectory = options.hooksDirectory ?? '/usr/local/p2hooks.d';
  const timeoutMs = options.timeoutMs ?? 120_000;
  const killGraceMs = options.killGraceMs ?? 5_000;
  const outputLimit = options.outputLimitBytes ?? 65_536;
  for (const [name, value] of [
    ['timeoutMs', timeoutMs],
    ['killGraceMs', killGraceMs],
    ['outputLimitBytes', outputLimit],
  ] as const) {
    if (!(value >= 0)) {
      throw new HooksError(HooksErrorCode.INVALID_OPTIONS, `${name} must be ≥ 0, found ${value}`);
    }
  }
  const required = new Set(options.required ?? []);
  const { manifest } = options.pod;
  const podId = options.pod.id ?? manifest.id;
  const summary: HookRunSummary = { event: options.event, podId, records: [] };

  const hooks = await discoverHooks(hooksDirectory);
  if (hooks.length === 0) return summary;

  const tempDir = await mkdtemp(join(tmpdir(), `${safeName(podId)}-manifest-`)).catch((error) => {
    throw new HooksError(
      HooksErrorCode.IO,
      `cannot create a temporary directory for the manifest of ${podId}: ${describeError(error)}`,
      { cause: error },
    );
  });
  try {
    const manifestPath = join(tempDir, `${safeName(podId)}-manifest.yaml`);
    await writeFile(manifestPath, manifest.raw, { mode: 0o600 })
      .then(() => shareWithGroup(tempDir, manifestPath, options.manifestGroup))
      .catch((error) => {
        throw new HooksError(
          HooksErrorCode.IO,
          `cannot write the manifest of ${podId} to ${manifestPath}: ${describeError(error)}`,
          { cause: error },
        );
      });
    const vars: HookVariables = {
      hook: basename(hooksDirectory),
      event: options.event,
      node: options.node,
      podId,
      podHome: options.pod.home,
      manifestPath,
      ...hookPodPaths(options.pod.home, manifest, podId),
      systemPodRoot: options.podRoot ?? '/data/pods',
      uniqueKey: options.pod.uniqueKey,
      readOnly: options.pod.readOnly ?? manifest.readonly ?? false,
    };
    const env = {
      ...options.extraEnv,
      PATH: options.path ?? DEFAULT_PATH,
      ...hookEnvironment(vars),
    };

    for (const hook of hooks) {
      if (options.signal?.aborted) break;
      const isRequired = required.has(hook.name);
      const record = await runOne(hook, {
        env,
        cwd: options.cwd ?? '/',
        timeoutMs,
        killGraceMs,
        outputLimit,
        signal: options.signal,
        base: {
          event: options.event,
          hook: hook.name,
          hookPath: hook.path,
          podId,
          podUniqueKey: options.pod.uniqueKey,
          node: options.node,
          required: isRequired,
        },
      });
      summary.records.push(record);
      const logFields = { ...record, output: redactCredentials(record.output) };
      if (record.success) logger.info(logFields, 'hook succeeded');
      else logger.error(logFields, `hook failed: ${record.error}`);
      try {
        await options.audit?.(record);
      } catch (error) {
        logger.error({ err: describeError(error), hook: hook.name }, 'hook audit sink failed');
      }
      if (!record.success && isRequired) {
        throw new HooksError(
          HooksErrorCode.REQUIRED_HOOK_FAILED,
          `required hook ${hook.name} failed during ${options.event} of ${podId}: ${record.error}`,
          {
            details: { record: { ...record, output: record.output.slice(-4096) } },
            hint: `see the hook's output in the log; ${hook.name} is listed in hooks_required, so the deploy stops until it succeeds`,
          },
        );
      }
    }
    return summary;
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}

/** Lets a group read the manifest copy: root's directory 0750 and file 0640, in that group. */
async function shareWithGroup(dir: string, file: string, gid: number | undefined): Promise<void> {
  if (gid === undefined) return;
  // Fresh in a 0700 directory of root's: nobody else can have replaced either path since mkdtemp.
  await chown(file, 0, gid);
  await chmod(file, 0o640);
  await chown(dir, 0, gid);
  await chmod(dir, 0o750);
}

function safeName(podId: string): string {
  return podId.replace(/[^A-Za-z0-9._-]/g, '_') || 'pod';
}

interface RunOneOptions {
  env: Record<string, string>;
  cwd: string;
  timeoutMs: number;
  killGraceMs: number;
  outputLimit: number;
  signal: AbortSignal | undefined;
  base: Pick<
    HookAuditRecord,
    'event' | 'hook' | 'hookPath' | 'podId' | 'podUniqueKey' | 'node' | 'required'
  >;
}

async function runOne(hook: DiscoveredHook, o: RunOneOptions): Promise<HookAuditRecord> {
  const startedAt = new Date();
  const started = performance.now();
  const finish = (
    r: Pick<HookAuditRecord, 'exitCode' | 'signal' | 'timedOut' | 'success'> & {
      error?: string;
      output?: string;
      dropped?: number;
    },
  ): HookAuditRecord => ({
    ...o.base,
    startedAt,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    success: r.success,
    ...(r.error === undefined ? {} : { error: r.error }),
    output: r.output ?? '',
    outputDroppedBytes: r.dropped ?? 0,
  });

  if (hook.untrusted) {
    return finish({
      exitCode: null,
      signal: null,
      timedOut: false,
      success: false,
      error: `not running ${hook.path} as root: ${hook.untrusted} (hooks must be root's alone: chown root, chmod go-w)`,
    });
  }
  if (!hook.executable) {
    return finish({
      exitCode: null,
      signal: null,
      timedOut: false,
      success: false,
      error: `${hook.path} is not executable (chmod +x it, or remove it from the hooks directory)`,
    });
  }

  const outcome = await runProcess(hook.path, {
    cwd: o.cwd,
    env: o.env,
    timeoutMs: o.timeoutMs,
    killGraceMs: o.killGraceMs,
    outputLimitBytes: o.outputLimit,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const { output, outputDroppedBytes: dropped } = outcome;
  if (outcome.spawnError !== undefined) {
    return finish({
      exitCode: null,
      signal: null,
      timedOut: false,
      success: false,
      error: `cannot start ${hook.path}: ${describeError(outcome.spawnError)}`,
      output,
      dropped,
    });
  }
  const { exitCode: code, signal, timedOut } = outcome;
  const success = !timedOut && code === 0;
  const error = timedOut
    ? `timed out after ${o.timeoutMs} ms; killed its process group (${signal ?? 'exited on SIGTERM'})`
    : outcome.cancelled && code !== 0
      ? 'cancelled'
      : signal !== null
        ? `killed by ${signal}`
        : code !== 0
          ? `exited with status ${code}`
          : undefined;
  return finish({
    exitCode: code,
    signal,
    timedOut,
    success,
    ...(error === undefined ? {} : { error }),
    output,
    dropped,
  });
}
